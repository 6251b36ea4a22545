package main

import (
	"context"
	"fmt"
	"log/slog"
)

// rotator performs one step of the Secrets Manager rotation protocol.
type rotator interface {
	Rotate(ctx context.Context, step, secretID, token string) error
}

// rotationEvent is what Secrets Manager sends a rotation function.
type rotationEvent struct {
	SecretID           string `json:"SecretId"`
	ClientRequestToken string `json:"ClientRequestToken"`
	Step               string `json:"Step"`
}

// handler rotates the JWT signing-key secret, one step per invocation.
type handler struct {
	rotator  rotator
	secretID string // only this secret may be rotated by this function
	log      *slog.Logger
}

func (h handler) handle(ctx context.Context, ev rotationEvent) error {
	// Secrets Manager passes the secret's ARN; the stack configures the
	// function with the same ARN, so equality is the whole check.
	if ev.SecretID != h.secretID {
		return fmt.Errorf("refusing to rotate %q: this function rotates only the JWT signing key", ev.SecretID)
	}
	switch ev.Step {
	case "createSecret", "setSecret", "testSecret", "finishSecret":
	default:
		return fmt.Errorf("unknown rotation step %q", ev.Step)
	}
	if err := h.rotator.Rotate(ctx, ev.Step, ev.SecretID, ev.ClientRequestToken); err != nil {
		h.log.ErrorContext(ctx, "rotation step failed", "step", ev.Step, "err", err)
		return err
	}
	h.log.InfoContext(ctx, "rotation step done", "step", ev.Step, "version", ev.ClientRequestToken)
	return nil
}
