// Package apitest holds the test helpers that every MAD function's tests
// share. The functions are separate main packages, so their _test.go
// files cannot share code among themselves; they import this instead.
//
// It covers:
//   - the repository's sample events (events/, found from the go.mod at
//     the repository root, not from a relative path) loaded strictly into
//     the aws-lambda-go types the functions receive (LoadEvent,
//     LoadAPIEvent) and adjusted per test (APIEvent, SetBody, SetJSON,
//     SetQuery, WithBody), and shared/testdata (Testdata);
//   - Serve and Invoke, which call an API function's mux and check what
//     every response must carry, and the contract's error shape
//     (RequireError, RequireErrorShape, ErrorBody);
//   - strict decoding (Decode, DecodeStrict, DecodeResp);
//   - the queue consumers' partial batch responses (Failures,
//     RequireRuntimeAcks) and presigned uploads (PutUpload);
//   - the fuzz targets' events and checks (FuzzRoute, FuzzEvent,
//     RequireRoutes, ServeFuzz, CheckFuzzResponse, CheckDecodeErr).
//
// It needs no services (Postgres and moto are shared/testenv's) and
// imports no functions/ package.
package apitest
