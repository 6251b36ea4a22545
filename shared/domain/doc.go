// Package domain holds MAD's core types and rules: organizations, users,
// roles and permissions, molecules, pipelines, jobs and their status
// machine, audit events, and the typed errors that the API maps to the
// contract's codes. It depends on the standard library only; nothing here
// knows about HTTP, JSON wire shapes, SQL or AWS.
package domain
