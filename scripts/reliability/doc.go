// Package reliability is MAD's load and fault-injection suite
// (`make test-reliability`). Every TestReliability... starts its own
// throwaway local stack (stacktest.Start: Postgres, moto, every function
// under the Lambda emulator, gateway, pollers), drives it over HTTP like a
// client, breaks something on purpose (a killed emulator or runtime, a
// stopped Postgres, S3 errors from the devstack fault proxy, a poison job,
// a job committed without its message) and asserts what a user would see:
// the contract's answers, no hang, and every accepted job finished exactly
// once. Timings are reported with t.Logf, never asserted.
//
// Most tests replace vina with scripts/fakevina (MAD_LOCAL_VINA), so every
// part of the job path is real except the docking math; the engine-kill
// test runs the real vina.
package reliability
