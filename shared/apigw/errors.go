package apigw

import (
	"net/http"

	"github.com/mad-bio/mad/shared/domain"
)

// statusOf is the one mapping from the contract's error codes to HTTP
// statuses.
var statusOf = map[domain.Code]int{
	domain.CodeInvalidCredentials:     http.StatusUnauthorized,
	domain.CodeUnauthorized:           http.StatusUnauthorized,
	domain.CodeOrgForbidden:           http.StatusForbidden,
	domain.CodeForbidden:              http.StatusForbidden,
	domain.CodeValidation:             http.StatusBadRequest,
	domain.CodePayloadTooLarge:        http.StatusRequestEntityTooLarge,
	domain.CodeRateLimited:            http.StatusTooManyRequests,
	domain.CodeQuotaExceeded:          http.StatusTooManyRequests,
	domain.CodeConflict:               http.StatusConflict,
	domain.CodePipelineNotFound:       http.StatusNotFound,
	domain.CodeJobNotFound:            http.StatusNotFound,
	domain.CodeMoleculeNotFound:       http.StatusNotFound,
	domain.CodeUploadNotFound:         http.StatusNotFound,
	domain.CodeUserNotFound:           http.StatusNotFound,
	domain.CodeOrgNotFound:            http.StatusNotFound,
	domain.CodeServiceAccountNotFound: http.StatusNotFound,
	domain.CodeArtifactNotFound:       http.StatusNotFound,
	domain.CodeRouteNotFound:          http.StatusNotFound,
	domain.CodeMethodNotAllowed:       http.StatusMethodNotAllowed,
	domain.CodeJobNotCompleted:        http.StatusConflict,
	domain.CodeInternal:               http.StatusInternalServerError,
	domain.CodeNotReady:               http.StatusServiceUnavailable,
}

// StatusOf returns the HTTP status of a contract error code.
func StatusOf(c domain.Code) int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the contract's error shape.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    domain.Code    `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}
