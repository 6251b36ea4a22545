package domain

import (
	"errors"
	"fmt"
	"time"
)

// Code is one of the error codes of the HTTP contract. The mapping from code
// to HTTP status lives in exactly one place: shared/apigw.
type Code string

// The contract's error codes.
const (
	CodeInvalidCredentials     Code = "AUTH_INVALID_CREDENTIALS"
	CodeUnauthorized           Code = "AUTH_UNAUTHORIZED"
	CodeOrgForbidden           Code = "ORG_FORBIDDEN"
	CodeForbidden              Code = "FORBIDDEN"
	CodeValidation             Code = "VALIDATION_FAILED"
	CodePayloadTooLarge        Code = "PAYLOAD_TOO_LARGE"
	CodeRateLimited            Code = "RATE_LIMITED"
	CodeQuotaExceeded          Code = "QUOTA_EXCEEDED"
	CodeConflict               Code = "CONFLICT"
	CodePipelineNotFound       Code = "PIPELINE_NOT_FOUND"
	CodeJobNotFound            Code = "JOB_NOT_FOUND"
	CodeMoleculeNotFound       Code = "MOLECULE_NOT_FOUND"
	CodeUploadNotFound         Code = "UPLOAD_NOT_FOUND"
	CodeUserNotFound           Code = "USER_NOT_FOUND"
	CodeOrgNotFound            Code = "ORG_NOT_FOUND"
	CodeServiceAccountNotFound Code = "SERVICE_ACCOUNT_NOT_FOUND"
	CodeArtifactNotFound       Code = "ARTIFACT_NOT_FOUND"
	CodeRouteNotFound          Code = "ROUTE_NOT_FOUND"
	CodeMethodNotAllowed       Code = "METHOD_NOT_ALLOWED"
	CodeJobNotCompleted        Code = "JOB_NOT_COMPLETED"
	CodeInternal               Code = "INTERNAL_ERROR"
	CodeNotReady               Code = "NOT_READY"
)

// Codes lists every contract code, for tests that check the mapping is total.
var Codes = []Code{
	CodeInvalidCredentials, CodeUnauthorized, CodeOrgForbidden, CodeForbidden,
	CodeValidation, CodePayloadTooLarge, CodeRateLimited, CodeQuotaExceeded,
	CodeConflict, CodePipelineNotFound, CodeJobNotFound, CodeMoleculeNotFound,
	CodeUploadNotFound, CodeUserNotFound, CodeOrgNotFound,
	CodeServiceAccountNotFound, CodeArtifactNotFound, CodeRouteNotFound,
	CodeMethodNotAllowed, CodeJobNotCompleted, CodeInternal, CodeNotReady,
}

// Error is the one error type the domain and use cases return for outcomes
// a client must see. Anything else reaching the edge is an internal error.
type Error struct {
	Code    Code
	Message string
	// Fields maps a request field path to what is wrong with it
	// (VALIDATION_FAILED only).
	Fields map[string]string
	// RetryAfter is how long a rate-limited client should wait.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if len(e.Fields) > 0 {
		return fmt.Sprintf("%s: %s %v", e.Code, e.Message, e.Fields)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns a domain error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a VALIDATION_FAILED error naming the offending fields.
func Invalid(fields map[string]string) *Error {
	return &Error{Code: CodeValidation, Message: "request validation failed", Fields: fields}
}

// InvalidField returns a VALIDATION_FAILED error for one field.
func InvalidField(field, msg string) *Error {
	return Invalid(map[string]string{field: msg})
}

// ErrorCode returns the contract code carried by err, or INTERNAL_ERROR when
// err is not (and does not wrap) a domain error.
func ErrorCode(err error) Code {
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	return CodeInternal
}

// AsError returns the domain error carried by err, if any.
func AsError(err error) (*Error, bool) {
	var de *Error
	ok := errors.As(err, &de)
	return de, ok
}

// FieldErrors collects validation messages and turns them into one error.
type FieldErrors map[string]string

// Add records msg for field unless the field already has a message.
func (f FieldErrors) Add(field, msg string) {
	if _, ok := f[field]; !ok {
		f[field] = msg
	}
}

// Err returns nil when nothing was recorded, otherwise a VALIDATION_FAILED error.
func (f FieldErrors) Err() error {
	if len(f) == 0 {
		return nil
	}
	return Invalid(f)
}
