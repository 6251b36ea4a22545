package vina

import (
	"errors"
	"fmt"
)

// Error classes of Dock. The engine maps them to job outcomes: invalid input
// fails the job at once (retrying the same molecule cannot help), a timeout
// or cancellation ends the job, anything else is treated as transient and
// left to SQS redelivery.
var (
	// ErrInvalidInput: a molecule cannot be prepared, vina rejects it, or the
	// parameters are outside what the engine accepts. Errors of this class
	// are *InputError values with a readable reason.
	ErrInvalidInput = errors.New("invalid docking input")
	// ErrTimeout: the run exceeded Params.TimeoutSeconds or the caller's
	// context deadline. In the latter case the error also matches
	// context.DeadlineExceeded.
	ErrTimeout = errors.New("docking timed out")
	// ErrCancelled: Request.Cancelled reported the job as cancelled.
	ErrCancelled = errors.New("docking cancelled")
)

// InputError is an ErrInvalidInput with the input it concerns and a reason
// that is safe to show to the job's owner: it never echoes lines of the
// molecule file (tool messages that quote the file are cut).
type InputError struct {
	Input  string // "receptor", "ligand" or "params"
	Reason string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Input, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidInput) true for every InputError.
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }

func invalid(input, format string, args ...any) error {
	return &InputError{Input: input, Reason: fmt.Sprintf(format, args...)}
}
