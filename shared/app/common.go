package app

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
)

// Paged is one page of a list and the cursor of the next, empty at the end.
type Paged[T any] struct {
	Items      []T
	NextCursor string
}

// paginate trims the repository's limit+1 rows to one page and encodes
// the cursor from the last item's key.
func paginate[T any](rows []T, p Page, key func(T) string) Paged[T] {
	lim := p.Limit
	if lim <= 0 || lim > 200 {
		lim = 50
	}
	if len(rows) <= lim {
		return Paged[T]{Items: rows}
	}
	rows = rows[:lim]
	return Paged[T]{Items: rows, NextCursor: EncodeCursor(key(rows[len(rows)-1]))}
}

// EncodeCursor makes an opaque cursor from a sort key.
func EncodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + key))
}

// DecodeCursor returns the sort key of a cursor made by EncodeCursor; any
// other cursor is a VALIDATION_FAILED on "cursor".
func DecodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 4 || string(b[:3]) != "v1:" {
		return "", domain.InvalidField("cursor", "is not a cursor returned by this API")
	}
	id, err := domain.ParseID(string(b[3:]))
	if err != nil {
		return "", domain.InvalidField("cursor", "is not a cursor returned by this API")
	}
	return id, nil
}

// audit starts an audit entry for principal p, carrying the request id of
// ctx.
func audit(ctx context.Context, p domain.Principal, action domain.AuditAction, targetType, targetID string) domain.AuditEvent {
	e := domain.NewAudit(p, action, targetType, targetID)
	e.RequestID = obs.RequestID(ctx)
	return e
}

func now(c Clock) time.Time {
	if c == nil {
		return time.Now().UTC()
	}
	return c().UTC()
}
