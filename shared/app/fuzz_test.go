package app_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// FuzzAuthorizationHeader feeds Authorization header values to
// app.Authorizer over the real token keys (Secrets Manager on moto) and the
// real store (Postgres): scheme casing, whitespace, tabs, other schemes,
// empty and oversized values. Whatever the input: no panic; every refusal
// is AUTH_UNAUTHORIZED whose message does not quote the header; and a
// principal comes back only for a header that carries one of the access
// tokens minted at setup, as that token's subject. The clock is pinned,
// so the tokens stay valid however long the fuzzer runs.
func FuzzAuthorizationHeader(f *testing.F) {
	env := apptest.New(f, apptest.Options{})
	org, admin := env.NewOrg(f)
	u := env.NewUser(f, admin, domain.RoleStandard)
	subjects := map[string]string{u.Tokens.AccessToken: u.UserID, admin.Tokens.AccessToken: admin.UserID}

	// Seeds name this process's tokens by placeholder: the fuzzing
	// coordinator and its workers each run this setup, with their own
	// database and keys, and share only the corpus.
	placeholders := strings.NewReplacer("$USER", u.Tokens.AccessToken, "$ADMIN", admin.Tokens.AccessToken,
		"$REFRESH", u.Tokens.RefreshToken)
	tok := "$USER"
	basic := base64.StdEncoding.EncodeToString([]byte("ada@example.org:" + apptest.TestPassword))
	for _, h := range []string{
		"Bearer " + tok, "bearer " + tok, "BEARER " + tok, "bEaReR " + tok,
		"Bearer  " + tok, "Bearer   " + tok + "   ", "  Bearer " + tok, "\tBearer " + tok + "\n",
		"Bearer\t" + tok, "Bearer\u00a0" + tok, "Bearer\r\n " + tok, "Bearer " + tok + "\x00",
		"Bearer " + tok + " " + tok, "Bearer " + tok + "," + tok, "Bearer " + tok + "x",
		"Bearer $ADMIN", "Bearer $REFRESH", "Bearer $USER$ADMIN",
		tok, "Token " + tok, "JWT " + tok, "Basic " + basic, "Basic " + tok, "Digest username=\"a\"",
		"", " ", "\t", "Bearer", "Bearer ", "Bearer \t ", "Bearer null", "Bearer undefined",
		"Bearer " + strings.Repeat("A", 8<<10), strings.Repeat("B", 8<<10), "Bearer " + tok + strings.Repeat(" ", 8<<10),
		"Bearer \xff\xfe", "\x00",
	} {
		f.Add(h)
	}

	f.Fuzz(func(t *testing.T, header string) {
		header = placeholders.Replace(header)
		p, err := env.Authorizer.Authorize(ctx, header)
		if err == nil {
			var want string
			for tk, sub := range subjects {
				if strings.Contains(header, tk) {
					want = sub
				}
			}
			if want == "" || p.SubjectID != want || p.OrgID != org.ID || !domain.IsID(p.TokenID) || len(p.Roles) == 0 {
				t.Fatalf("header %q authorized as %+v", header, p)
			}
			fields := strings.Fields(header)
			if len(fields) != 2 || !strings.EqualFold(fields[0], "bearer") {
				t.Fatalf("header %q is not \"Bearer <token>\" but authorized as %+v", header, p)
			}
			return
		}
		if _, ok := subjects[strings.TrimPrefix(header, "Bearer ")]; ok && strings.HasPrefix(header, "Bearer ") {
			t.Fatalf("canonical header refused: %v", err)
		}
		if code := domain.ErrorCode(err); code != domain.CodeUnauthorized {
			t.Fatalf("header %q: code %s (%v), want AUTH_UNAUTHORIZED", header, code, err)
		}
		de, _ := domain.AsError(err)
		if len(de.Message) > 100 || len(de.Fields) > 0 {
			t.Fatalf("header %q: client sees %+v", header, de)
		}
		for _, part := range append(strings.Fields(header), header) {
			if len(part) > 12 && strings.Contains(de.Message, part) {
				t.Fatalf("message %q quotes the header", de.Message)
			}
		}
	})
}
