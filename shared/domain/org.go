package domain

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// OrgStatus is whether an org may act.
type OrgStatus string

// Org states. A suspended org's users cannot log in and its tokens stop
// working.
const (
	OrgActive    OrgStatus = "active"
	OrgSuspended OrgStatus = "suspended"
)

// ParseOrgStatus returns the status named s.
func ParseOrgStatus(s string) (OrgStatus, error) {
	switch OrgStatus(s) {
	case OrgActive, OrgSuspended:
		return OrgStatus(s), nil
	}
	return "", fmt.Errorf(`must be "active" or "suspended"`)
}

// Quotas bound what one org may use.
type Quotas struct {
	MaxActiveJobs   int
	MaxStorageBytes int64
}

// DefaultQuotas are given to a new org.
var DefaultQuotas = Quotas{MaxActiveJobs: 50, MaxStorageBytes: 50 << 30}

// Validate checks quota bounds.
func (q Quotas) Validate(prefix string) error {
	fe := FieldErrors{}
	if q.MaxActiveJobs < 0 || q.MaxActiveJobs > 100000 {
		fe.Add(prefix+".max_active_jobs", "must be between 0 and 100000")
	}
	if q.MaxStorageBytes < 0 || q.MaxStorageBytes > 1<<50 {
		fe.Add(prefix+".max_storage_bytes", "must be between 0 and 2^50")
	}
	return fe.Err()
}

// Org is a tenant.
type Org struct {
	ID        string
	Name      string
	Status    OrgStatus
	Quotas    Quotas
	CreatedAt time.Time
}

// User is a person who logs in with email and password. Root users have no
// org.
type User struct {
	ID           string
	OrgID        string
	Email        string
	PasswordHash string
	Roles        []Role
	Enabled      bool
	CreatedAt    time.Time
	// TokensNotBefore invalidates every token issued earlier (disable,
	// role change).
	TokensNotBefore time.Time
}

// ServiceAccount is a machine client of one org.
type ServiceAccount struct {
	ID         string
	OrgID      string
	Name       string
	ClientID   string
	SecretHash string
	Roles      []Role
	CreatedAt  time.Time
	CreatedBy  string
}

// Password bounds. The upper bound keeps hashing cost bounded.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 256
)

// NormalizeEmail checks an email address and returns its lowercase form.
func NormalizeEmail(s string) (string, error) {
	if len(s) == 0 {
		return "", fmt.Errorf("required")
	}
	if len(s) > 254 {
		return "", fmt.Errorf("must be at most 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s, "@") {
		return "", fmt.Errorf("must be a plain email address like name@example.org")
	}
	return strings.ToLower(s), nil
}

// ValidatePassword checks a new password against the policy.
func ValidatePassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLength {
		return fmt.Errorf("must be at least %d characters", MinPasswordLength)
	}
	if len(pw) > MaxPasswordLength {
		return fmt.Errorf("must be at most %d bytes", MaxPasswordLength)
	}
	return nil
}

// ValidateRoles checks roles an admin grants: non-empty, known, among
// allowed, no duplicates.
func ValidateRoles(roles []string, allowed []Role) ([]Role, error) {
	if len(roles) == 0 {
		return nil, fmt.Errorf("at least one role is required")
	}
	seen := map[Role]bool{}
	var out []Role
	for _, s := range roles {
		r, err := ParseRole(s)
		if err != nil {
			return nil, err
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == r
		}
		if !ok {
			return nil, fmt.Errorf("role %q cannot be granted here", s)
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// HasRole reports whether roles contains r.
func HasRole(roles []Role, r Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}
