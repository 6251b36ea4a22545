package app_test

import (
	"context"
	"testing"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// authorizeFixture is a logged-in standard user of a fresh org and its
// access token, on the real Postgres store and HS256 keys of apptest.
func authorizeFixture(b *testing.B) (*apptest.Env, string) {
	b.Helper()
	e := apptest.New(b, apptest.Options{})
	_, admin := e.NewOrg(b)
	m := e.NewUser(b, admin, domain.RoleStandard)
	return e, m.Tokens.AccessToken
}

// BenchmarkAuthorize is the authorizer function's whole per-request path:
// parse the header, verify the token (jwtauth), then the one indexed
// query for the token's state (revocation, subject, org) in a scoped
// transaction. Compare with BenchmarkAuthorizeVerifyOnly: the difference
// is the database's share.
func BenchmarkAuthorize(b *testing.B) {
	e, tok := authorizeFixture(b)
	ctx := context.Background()
	header := "Bearer " + tok
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Authorizer.Authorize(ctx, header); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorizeVerifyOnly verifies the same token with the same
// verifier and no database.
func BenchmarkAuthorizeVerifyOnly(b *testing.B) {
	e, tok := authorizeFixture(b)
	ctx := context.Background()
	v := e.Authorizer.Verifier
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok, app.TokenAccess); err != nil {
			b.Fatal(err)
		}
	}
}
