package postgres_test

// Tenant isolation of every repository method that reads or writes by id:
// a row written in org A is not found from org B's scope (and B's writes
// by that id change nothing of A's), A still sees it afterwards, tenant
// repositories refuse the global scope, and built-in pipelines are
// readable by every org but writable by none.

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/postgres"
	"github.com/mad-bio/mad/shared/testenv"
)

var bg = context.Background()

// tenantRows is one of everything, written in org A.
type tenantRows struct {
	a, b      domain.Org
	user      domain.User
	sa        domain.ServiceAccount
	rt        app.RefreshToken
	accessJTI string
	audit     domain.AuditEvent
	mol       domain.Molecule
	up        domain.Upload
	pl        domain.Pipeline
	job       *domain.Job // with events, results, artifacts, cache entry, idempotency key
	sig       string
	idemKey   string
	outboxJob *domain.Job // never sent
}

func in(t *testing.T, s *postgres.Store, orgID string, fn func(tx app.Tx) error) error {
	t.Helper()
	return s.Tx(bg, domain.Scope{OrgID: orgID}, fn)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code domain.Code) {
	t.Helper()
	if got := domain.ErrorCode(err); err == nil || got != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func testJob(orgID string, at time.Time) *domain.Job {
	pl := domain.Pipeline{ID: domain.BuiltinPipelineID, Version: domain.BuiltinPipelineVersion}
	params := domain.VinaParams{Center: [3]float64{1, 2, 3}, Size: [3]float64{20, 20, 20}, Exhaustiveness: 1, NumModes: 1, EnergyRange: 3, TimeoutSeconds: 60}
	return domain.NewJob(domain.NewID(), orgID, domain.NewID(), pl, domain.JobInputs{Receptor: domain.NewID(), Ligand: domain.NewID()},
		params, "sig-"+domain.NewID(), at)
}

func seedTenant(t *testing.T, d *testenv.Database) tenantRows {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	r := tenantRows{a: testenv.NewOrg(t, d), b: testenv.NewOrg(t, d)}
	a := r.a.ID
	r.user = domain.User{ID: domain.NewID(), OrgID: a, Email: "u-" + domain.NewID()[24:] + "@example.org", PasswordHash: "hash",
		Roles: []domain.Role{domain.RoleAdmin}, Enabled: true, CreatedAt: now}
	r.sa = domain.ServiceAccount{ID: domain.NewID(), OrgID: a, Name: "bot", ClientID: "mad_sa_" + domain.NewID(), SecretHash: "sha256:x",
		Roles: []domain.Role{domain.RoleViewer}, CreatedAt: now, CreatedBy: r.user.ID}
	r.rt = app.RefreshToken{JTI: domain.NewID(), SubjectID: r.user.ID, FamilyID: domain.NewID(), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	r.accessJTI = domain.NewID()
	r.audit = domain.AuditEvent{ID: domain.NewID(), OrgID: a, ActorID: r.user.ID, ActorType: domain.SubjectUser,
		Action: domain.AuditUserCreated, TargetType: "user", TargetID: r.user.ID, Outcome: domain.OutcomeSuccess}
	r.mol = domain.Molecule{ID: domain.NewID(), OrgID: a, Name: "m", Format: domain.FormatPDBQT, SizeBytes: 100,
		SHA256: "0000000000000000000000000000000000000000000000000000000000000000", CreatedBy: r.user.ID, CreatedAt: now}
	r.up = domain.Upload{ID: domain.NewID(), OrgID: a, Name: "u", Format: domain.FormatSDF, SizeBytes: 50, Status: domain.UploadPending,
		CreatedBy: r.user.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		Run: &domain.RunSpec{PipelineID: domain.BuiltinPipelineID, Receptor: domain.NewID()}}
	r.pl = domain.Pipeline{ID: domain.NewID(), OrgID: a, Name: "mine", Engine: domain.EngineVina, Version: "1.0.0", CreatedAt: now}
	r.job = testJob(a, now)
	r.sig = r.job.InputSignature
	r.idemKey = "key-" + domain.NewID()
	r.outboxJob = testJob(a, now)
	must(t, in(t, d.Store, a, func(tx app.Tx) error {
		steps := []error{
			tx.Users().CreateUser(bg, r.user),
			tx.ServiceAccounts().CreateServiceAccount(bg, r.sa),
			tx.Tokens().CreateRefreshToken(bg, r.rt),
			tx.Tokens().RevokeAccessToken(bg, r.accessJTI, r.user.ID, now.Add(time.Hour)),
			tx.Audit().AppendAudit(bg, r.audit),
			tx.Molecules().CreateMolecule(bg, r.mol),
			tx.Uploads().CreateUpload(bg, r.up),
			tx.Pipelines().CreatePipeline(bg, r.pl, r.user.ID),
			tx.Jobs().CreateJob(bg, r.job),
			tx.Jobs().SaveResults(bg, app.JobResults{JobID: r.job.ID, EngineVersion: "1.2.3",
				Scores: []app.Score{{Pose: 1, Affinity: -9}}, Tasks: []app.TaskResult{{TaskName: "dock"}},
				Artifacts: []app.Artifact{{Name: "vina.log", Key: domain.JobArtifactKey(a, r.job.ID, "vina.log"), SizeBytes: 10, SHA256: "x", ContentType: "text/plain"}}}),
			tx.Jobs().PutCache(bg, r.sig, r.job.ID),
			tx.Jobs().SaveIdempotencyKey(bg, r.user.ID, app.IdempotencyRecord{Key: r.idemKey, RequestHash: "h", JobID: r.job.ID,
				ResponseStatus: 202, ExpiresAt: now.Add(time.Hour)}),
			tx.Jobs().CreateJob(bg, r.outboxJob),
		}
		return errors.Join(steps...)
	}))
	return r
}

// stillInA re-reads everything in org A and checks nothing changed.
func stillInA(t *testing.T, d *testenv.Database, r tenantRows) {
	t.Helper()
	must(t, in(t, d.Store, r.a.ID, func(tx app.Tx) error {
		u, err := tx.Users().FindUserByID(bg, r.user.ID)
		if err != nil || !u.Enabled || !slices.Equal(u.Roles, r.user.Roles) {
			t.Errorf("A's user: %+v, %v", u, err)
		}
		if _, err := tx.ServiceAccounts().FindServiceAccountByID(bg, r.sa.ID); err != nil {
			t.Errorf("A's service account: %v", err)
		}
		rt, err := tx.Tokens().FindRefreshTokenForUpdate(bg, r.rt.JTI)
		if err != nil || rt.SpentAt != nil || rt.RevokedAt != nil {
			t.Errorf("A's refresh token: %+v, %v", rt, err)
		}
		st, err := tx.Tokens().TokenState(bg, domain.SubjectUser, r.user.ID, r.a.ID, r.accessJTI)
		if err != nil || !st.SubjectFound || !st.Revoked {
			t.Errorf("A's token state: %+v, %v", st, err)
		}
		evs, err := tx.Audit().FindAudit(bg, app.AuditFilter{}, app.Page{Limit: 200})
		if err != nil || !slices.ContainsFunc(evs, func(e domain.AuditEvent) bool { return e.ID == r.audit.ID }) {
			t.Errorf("A's audit entry missing (%v)", err)
		}
		if _, err := tx.Molecules().FindMoleculeByID(bg, r.mol.ID); err != nil {
			t.Errorf("A's molecule: %v", err)
		}
		missing := domain.NewID()
		found, err := tx.Molecules().FindMoleculesByID(bg, r.mol.ID, missing, r.mol.ID)
		if err != nil || len(found) != 1 || found[r.mol.ID].SHA256 != r.mol.SHA256 {
			t.Errorf("A's molecules by id (itself twice and a missing id): %+v, %v; want exactly A's molecule", found, err)
		}
		up, err := tx.Uploads().FindUploadByID(bg, r.up.ID)
		if err != nil || up.Status != domain.UploadPending || up.Error != "" || up.Run == nil {
			t.Errorf("A's upload: %+v, %v", up, err)
		}
		if _, err := tx.Pipelines().FindPipelineByID(bg, r.pl.ID); err != nil {
			t.Errorf("A's pipeline: %v", err)
		}
		j, err := tx.Jobs().FindJobByID(bg, r.job.ID)
		if err != nil || j.Status != domain.JobPending {
			t.Errorf("A's job: %+v, %v", j, err)
		}
		if evs, err := tx.Jobs().FindJobEvents(bg, r.job.ID); err != nil || len(evs) != 1 {
			t.Errorf("A's job events: %d, %v", len(evs), err)
		}
		if res, err := tx.Jobs().FindResults(bg, r.job.ID); err != nil || len(res.Scores) != 1 || len(res.Artifacts) != 1 {
			t.Errorf("A's results: %+v, %v", res, err)
		}
		if id, hit, err := tx.Jobs().FindCachedJob(bg, r.sig); err != nil || !hit || id != r.job.ID {
			t.Errorf("A's cache entry: %s %v %v", id, hit, err)
		}
		if rec, found, err := tx.Jobs().FindIdempotencyKey(bg, r.user.ID, r.idemKey); err != nil || !found || rec.JobID != r.job.ID {
			t.Errorf("A's idempotency key: %+v %v %v", rec, found, err)
		}
		return nil
	}))
	// The outbox is read in the global scope, as the sweeper does.
	must(t, in(t, d.Store, "", func(tx app.Tx) error {
		due, err := tx.Jobs().FindDueOutbox(bg, time.Now().Add(time.Hour), time.Now().Add(-time.Hour), 10000)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(due, func(e app.OutboxEntry) bool { return e.JobID == r.outboxJob.ID })
		if i < 0 || due[i].SentAt != nil || due[i].OrgID != r.a.ID {
			t.Errorf("A's unsent outbox entry for job %s is no longer due as unsent", r.outboxJob.ID)
		}
		return nil
	}))
}

func TestRepositoriesHideOtherOrgsRows(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	r := seedTenant(t, d)
	far := time.Now().Add(1000 * time.Hour)

	cases := []struct {
		name string
		inB  func(t *testing.T, tx app.Tx)
	}{
		// users
		{"Users.FindUserByID", func(t *testing.T, tx app.Tx) {
			_, err := tx.Users().FindUserByID(bg, r.user.ID)
			wantCode(t, err, domain.CodeUserNotFound)
		}},
		{"Users.FindUserByIDForUpdate", func(t *testing.T, tx app.Tx) {
			_, err := tx.Users().FindUserByIDForUpdate(bg, r.user.ID)
			wantCode(t, err, domain.CodeUserNotFound)
		}},
		{"Users.FindUserByEmail", func(t *testing.T, tx app.Tx) {
			_, err := tx.Users().FindUserByEmail(bg, r.user.Email)
			wantCode(t, err, domain.CodeUserNotFound)
		}},
		{"Users.FindUsers", func(t *testing.T, tx app.Tx) {
			us, err := tx.Users().FindUsers(bg, app.Page{Limit: 200})
			must(t, err)
			if len(us) != 0 {
				t.Fatalf("org B lists %d users", len(us))
			}
		}},
		{"Users.UpdateUser", func(t *testing.T, tx app.Tx) {
			u := r.user
			u.Enabled, u.Roles = false, []domain.Role{domain.RoleViewer}
			wantCode(t, tx.Users().UpdateUser(bg, u), domain.CodeUserNotFound)
		}},
		{"Users.CreateUser of org A", func(t *testing.T, tx app.Tx) {
			u := r.user
			u.ID, u.Email = domain.NewID(), "x"+r.user.Email
			if err := tx.Users().CreateUser(bg, u); err == nil {
				t.Fatal("org B created a user of org A")
			}
		}},
		{"Users.LockEnabledAdmins", func(t *testing.T, tx app.Tx) {
			ids, err := tx.Users().LockEnabledAdmins(bg)
			must(t, err)
			if len(ids) != 0 {
				t.Fatalf("org B locked admins %v", ids)
			}
		}},
		// service accounts
		{"ServiceAccounts.FindServiceAccountByID", func(t *testing.T, tx app.Tx) {
			_, err := tx.ServiceAccounts().FindServiceAccountByID(bg, r.sa.ID)
			wantCode(t, err, domain.CodeServiceAccountNotFound)
		}},
		{"ServiceAccounts.FindServiceAccounts", func(t *testing.T, tx app.Tx) {
			sas, err := tx.ServiceAccounts().FindServiceAccounts(bg, app.Page{})
			must(t, err)
			if len(sas) != 0 {
				t.Fatalf("org B lists %d service accounts", len(sas))
			}
		}},
		{"ServiceAccounts.DeleteServiceAccount", func(t *testing.T, tx app.Tx) {
			wantCode(t, tx.ServiceAccounts().DeleteServiceAccount(bg, r.sa.ID, time.Now()), domain.CodeServiceAccountNotFound)
		}},
		// tokens
		{"Tokens.FindRefreshTokenForUpdate", func(t *testing.T, tx app.Tx) {
			_, err := tx.Tokens().FindRefreshTokenForUpdate(bg, r.rt.JTI)
			wantCode(t, err, domain.CodeUnauthorized)
		}},
		{"Tokens.MarkRefreshTokenSpent", func(t *testing.T, tx app.Tx) {
			if err := tx.Tokens().MarkRefreshTokenSpent(bg, r.rt.JTI, time.Now()); err != nil && domain.ErrorCode(err) != domain.CodeUnauthorized {
				t.Fatal(err)
			}
		}},
		{"Tokens.RevokeFamily", func(t *testing.T, tx app.Tx) {
			n, err := tx.Tokens().RevokeFamily(bg, r.rt.FamilyID, time.Now())
			if err != nil || n != 0 {
				t.Fatalf("revoked %d, %v", n, err)
			}
		}},
		{"Tokens.RevokeSubjectTokens", func(t *testing.T, tx app.Tx) {
			n, err := tx.Tokens().RevokeSubjectTokens(bg, r.user.ID, time.Now())
			if err != nil || n != 0 {
				t.Fatalf("revoked %d, %v", n, err)
			}
		}},
		{"Tokens.TokenState", func(t *testing.T, tx app.Tx) {
			st, err := tx.Tokens().TokenState(bg, domain.SubjectUser, r.user.ID, r.a.ID, r.accessJTI)
			must(t, err)
			if st.SubjectFound || len(st.SubjectRoles) != 0 || st.Revoked {
				t.Fatalf("org B reads A's token state %+v", st)
			}
			st, err = tx.Tokens().TokenState(bg, domain.SubjectServiceAccount, r.sa.ID, r.a.ID, r.accessJTI)
			must(t, err)
			if st.SubjectFound {
				t.Fatalf("org B finds A's service account %+v", st)
			}
		}},
		{"Tokens.DeleteExpired", func(t *testing.T, tx app.Tx) {
			_, err := tx.Tokens().DeleteExpired(bg, far)
			must(t, err)
		}},
		// audit
		{"Audit.FindAudit", func(t *testing.T, tx app.Tx) {
			evs, err := tx.Audit().FindAudit(bg, app.AuditFilter{}, app.Page{Limit: 200})
			must(t, err)
			if len(evs) != 0 {
				t.Fatalf("org B reads %d audit entries", len(evs))
			}
		}},
		{"Audit.AppendAudit of org A", func(t *testing.T, tx app.Tx) {
			e := r.audit
			e.ID = domain.NewID()
			if err := tx.Audit().AppendAudit(bg, e); err == nil {
				t.Fatal("org B appended to org A's audit log")
			}
		}},
		// molecules
		{"Molecules.FindMoleculeByID", func(t *testing.T, tx app.Tx) {
			_, err := tx.Molecules().FindMoleculeByID(bg, r.mol.ID)
			wantCode(t, err, domain.CodeMoleculeNotFound)
		}},
		{"Molecules.FindMoleculesByID", func(t *testing.T, tx app.Tx) {
			found, err := tx.Molecules().FindMoleculesByID(bg, r.mol.ID)
			must(t, err)
			if len(found) != 0 {
				t.Fatalf("org B found org A's molecule: %v", found)
			}
		}},
		{"Molecules.FindMolecules", func(t *testing.T, tx app.Tx) {
			ms, err := tx.Molecules().FindMolecules(bg, app.Page{})
			must(t, err)
			if len(ms) != 0 {
				t.Fatalf("org B lists %d molecules", len(ms))
			}
		}},
		{"Molecules.DeleteMolecule", func(t *testing.T, tx app.Tx) {
			wantCode(t, tx.Molecules().DeleteMolecule(bg, r.mol.ID), domain.CodeMoleculeNotFound)
		}},
		{"Molecules.StorageUsed", func(t *testing.T, tx app.Tx) {
			n, err := tx.Molecules().StorageUsed(bg)
			if err != nil || n != 0 {
				t.Fatalf("org B uses %d bytes, %v", n, err)
			}
		}},
		// uploads
		{"Uploads.FindUploadByID", func(t *testing.T, tx app.Tx) {
			_, err := tx.Uploads().FindUploadByID(bg, r.up.ID)
			wantCode(t, err, domain.CodeUploadNotFound)
		}},
		{"Uploads.FindUploadByIDForUpdate", func(t *testing.T, tx app.Tx) {
			_, err := tx.Uploads().FindUploadByIDForUpdate(bg, r.up.ID)
			wantCode(t, err, domain.CodeUploadNotFound)
		}},
		{"Uploads.UpdateUpload", func(t *testing.T, tx app.Tx) {
			u := r.up
			u.Status, u.Error = domain.UploadRejected, "from org B"
			if err := tx.Uploads().UpdateUpload(bg, u); err != nil && domain.ErrorCode(err) != domain.CodeUploadNotFound {
				t.Fatal(err)
			}
		}},
		// pipelines
		{"Pipelines.FindPipelineByID", func(t *testing.T, tx app.Tx) {
			_, err := tx.Pipelines().FindPipelineByID(bg, r.pl.ID)
			wantCode(t, err, domain.CodePipelineNotFound)
		}},
		{"Pipelines.ParamsSchema", func(t *testing.T, tx app.Tx) {
			_, err := tx.Pipelines().ParamsSchema(bg, r.pl.ID)
			wantCode(t, err, domain.CodePipelineNotFound)
		}},
		{"Pipelines.FindPipelines", func(t *testing.T, tx app.Tx) {
			ps, err := tx.Pipelines().FindPipelines(bg, app.Page{Limit: 200})
			must(t, err)
			if len(ps) != 1 || ps[0].ID != domain.BuiltinPipelineID {
				t.Fatalf("org B lists %+v, want the built-in only", ps)
			}
		}},
		// jobs
		{"Jobs.FindJobByID", func(t *testing.T, tx app.Tx) {
			_, err := tx.Jobs().FindJobByID(bg, r.job.ID)
			wantCode(t, err, domain.CodeJobNotFound)
		}},
		{"Jobs.FindJobs", func(t *testing.T, tx app.Tx) {
			js, err := tx.Jobs().FindJobs(bg, app.JobFilter{}, app.Page{})
			must(t, err)
			if len(js) != 0 {
				t.Fatalf("org B lists %d jobs", len(js))
			}
		}},
		{"Jobs.UpdateJob", func(t *testing.T, tx app.Tx) {
			called := false
			_, err := tx.Jobs().UpdateJob(bg, r.job.ID, func(j *domain.Job) error {
				called = true
				return j.Cancel(time.Now(), "org B")
			})
			wantCode(t, err, domain.CodeJobNotFound)
			if called {
				t.Fatal("the transition ran on org A's job")
			}
		}},
		{"Jobs.FindJobEvents", func(t *testing.T, tx app.Tx) {
			evs, err := tx.Jobs().FindJobEvents(bg, r.job.ID)
			if err != nil && domain.ErrorCode(err) != domain.CodeJobNotFound {
				t.Fatal(err)
			}
			if len(evs) != 0 {
				t.Fatalf("org B reads %d events of A's job", len(evs))
			}
		}},
		{"Jobs.CountActiveJobs", func(t *testing.T, tx app.Tx) {
			n, err := tx.Jobs().CountActiveJobs(bg)
			if err != nil || n != 0 {
				t.Fatalf("org B counts %d active jobs, %v", n, err)
			}
		}},
		{"Jobs.FindResults", func(t *testing.T, tx app.Tx) {
			_, err := tx.Jobs().FindResults(bg, r.job.ID)
			wantCode(t, err, domain.CodeJobNotFound)
		}},
		{"Jobs.FindArtifact", func(t *testing.T, tx app.Tx) {
			_, err := tx.Jobs().FindArtifact(bg, r.job.ID, "vina.log")
			wantCode(t, err, domain.CodeArtifactNotFound)
		}},
		{"Jobs.FindCachedJob", func(t *testing.T, tx app.Tx) {
			id, hit, err := tx.Jobs().FindCachedJob(bg, r.sig)
			if err != nil || hit || id != "" {
				t.Fatalf("org B cache hit %q %v %v", id, hit, err)
			}
		}},
		{"Jobs.FindIdempotencyKey", func(t *testing.T, tx app.Tx) {
			rec, found, err := tx.Jobs().FindIdempotencyKey(bg, r.user.ID, r.idemKey)
			if err != nil || found {
				t.Fatalf("org B finds A's key %+v %v %v", rec, found, err)
			}
		}},
		{"Jobs.DeleteExpiredIdempotencyKeys", func(t *testing.T, tx app.Tx) {
			_, err := tx.Jobs().DeleteExpiredIdempotencyKeys(bg, far)
			must(t, err)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Each call in its own transaction of org B; a failed
			// statement must not hide the next case's.
			_ = in(t, d.Store, r.b.ID, func(tx app.Tx) error {
				tc.inB(t, tx)
				return errors.New("roll back")
			})
		})
	}
	// Writes of the cases above were rolled back; run the writing ones
	// again committed, then check org A.
	must(t, in(t, d.Store, r.b.ID, func(tx app.Tx) error {
		u := r.user
		u.Enabled = false
		_ = tx.Users().UpdateUser(bg, u)
		_ = tx.ServiceAccounts().DeleteServiceAccount(bg, r.sa.ID, time.Now())
		_ = tx.Molecules().DeleteMolecule(bg, r.mol.ID)
		up := r.up
		up.Status, up.Error = domain.UploadRejected, "from org B"
		if err := tx.Uploads().UpdateUpload(bg, up); err != nil && domain.ErrorCode(err) != domain.CodeUploadNotFound {
			return err
		}
		if err := tx.Tokens().MarkRefreshTokenSpent(bg, r.rt.JTI, time.Now()); err != nil && domain.ErrorCode(err) != domain.CodeUnauthorized {
			return err
		}
		if _, err := tx.Tokens().RevokeFamily(bg, r.rt.FamilyID, time.Now()); err != nil {
			return err
		}
		if _, err := tx.Tokens().RevokeSubjectTokens(bg, r.user.ID, time.Now()); err != nil {
			return err
		}
		if _, err := tx.Tokens().DeleteExpired(bg, far); err != nil {
			return err
		}
		_, err := tx.Jobs().DeleteExpiredIdempotencyKeys(bg, far)
		return err
	}))
	stillInA(t, d, r)
}

// MarkOutboxSent updates job_outbox by job id alone: job_outbox has no
// org filter and no row-level security, so a call in org B's scope marks
// org A's entry sent, and the sweeper then never sends A's job.
func TestMarkOutboxSentStaysInItsOrg(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	r := seedTenant(t, d)
	err := in(t, d.Store, r.b.ID, func(tx app.Tx) error {
		return tx.Jobs().MarkOutboxSent(bg, r.outboxJob.ID, time.Now())
	})
	if err != nil && domain.ErrorCode(err) != domain.CodeJobNotFound {
		t.Fatal(err)
	}
	stillInA(t, d, r)
}

// SaveResults and PutCache take a job id without checking that the job
// is the scope's: org B can record results and a cache entry pointing at
// org A's job. Not reachable through the use cases (the engine saves only
// the job it just updated in the same scope), but every other write by
// id refuses a foreign id.
func TestResultWritesRefuseAnotherOrgsJob(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	r := seedTenant(t, d)
	other := testJob(r.a.ID, time.Now()) // a job of A without results
	must(t, in(t, d.Store, r.a.ID, func(tx app.Tx) error { return tx.Jobs().CreateJob(bg, other) }))

	t.Run("SaveResults", func(t *testing.T) {
		err := in(t, d.Store, r.b.ID, func(tx app.Tx) error {
			return tx.Jobs().SaveResults(bg, app.JobResults{JobID: other.ID, EngineVersion: "x", Scores: []app.Score{{Pose: 1}}})
		})
		if err == nil {
			t.Error("org B saved results for org A's job")
		}
	})
	t.Run("PutCache", func(t *testing.T) {
		sig := "sig-" + domain.NewID()
		_ = in(t, d.Store, r.b.ID, func(tx app.Tx) error { return tx.Jobs().PutCache(bg, sig, other.ID) })
		_ = in(t, d.Store, r.b.ID, func(tx app.Tx) error {
			if id, hit, _ := tx.Jobs().FindCachedJob(bg, sig); hit {
				t.Errorf("org B's cache points at org A's job %s", id)
			}
			return nil
		})
	})
}

// The revoked_access_tokens primary key is the jti alone, so a row
// another org wrote for a jti (RLS hides it) turns the owner's own
// revocation into a silent no-op (ON CONFLICT DO NOTHING).
func TestRevokeAccessTokenIsPerOrg(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	r := seedTenant(t, d)
	jti := domain.NewID()
	exp := time.Now().Add(time.Hour)
	must(t, in(t, d.Store, r.b.ID, func(tx app.Tx) error { return tx.Tokens().RevokeAccessToken(bg, jti, domain.NewID(), exp) }))
	must(t, in(t, d.Store, r.a.ID, func(tx app.Tx) error { return tx.Tokens().RevokeAccessToken(bg, jti, r.user.ID, exp) }))
	must(t, in(t, d.Store, r.a.ID, func(tx app.Tx) error {
		st, err := tx.Tokens().TokenState(bg, domain.SubjectUser, r.user.ID, r.a.ID, jti)
		if err != nil {
			return err
		}
		if !st.Revoked {
			t.Error("org A revoked its token, but TokenState says it is not revoked")
		}
		return nil
	}))
}

// TokenState reports SubjectEnabled = true for a user that does not
// exist: COALESCE(u.enabled, sa.deleted_at IS NULL, false) takes the
// service-account branch, and "NULL IS NULL" is true when no service
// account row was joined. The authorizer also checks SubjectFound, so
// this is latent, but the field says the opposite of the truth.
func TestTokenStateOfAMissingSubjectIsNotEnabled(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	org := testenv.NewOrg(t, d)
	for _, st := range []domain.SubjectType{domain.SubjectUser, domain.SubjectServiceAccount} {
		must(t, in(t, d.Store, org.ID, func(tx app.Tx) error {
			s, err := tx.Tokens().TokenState(bg, st, domain.NewID(), org.ID, domain.NewID())
			if err != nil {
				return err
			}
			if s.SubjectFound || s.SubjectEnabled {
				t.Errorf("%s that does not exist: found=%v enabled=%v, want both false", st, s.SubjectFound, s.SubjectEnabled)
			}
			return nil
		}))
	}
}

func TestTenantRepositoriesRefuseTheGlobalScope(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	r := seedTenant(t, d)
	id := domain.NewID()
	now := time.Now()
	calls := map[string]func(tx app.Tx) error{
		"Users.LockEnabledAdmins": func(tx app.Tx) error { _, err := tx.Users().LockEnabledAdmins(bg); return err },
		"ServiceAccounts.CreateServiceAccount": func(tx app.Tx) error {
			sa := r.sa
			sa.ID, sa.ClientID = id, "mad_sa_"+id
			return tx.ServiceAccounts().CreateServiceAccount(bg, sa)
		},
		"ServiceAccounts.FindServiceAccountByID": func(tx app.Tx) error { _, err := tx.ServiceAccounts().FindServiceAccountByID(bg, r.sa.ID); return err },
		"ServiceAccounts.FindServiceAccounts":    func(tx app.Tx) error { _, err := tx.ServiceAccounts().FindServiceAccounts(bg, app.Page{}); return err },
		"ServiceAccounts.DeleteServiceAccount":   func(tx app.Tx) error { return tx.ServiceAccounts().DeleteServiceAccount(bg, r.sa.ID, now) },
		"Molecules.CreateMolecule":               func(tx app.Tx) error { m := r.mol; m.ID = id; return tx.Molecules().CreateMolecule(bg, m) },
		"Molecules.FindMoleculeByID":             func(tx app.Tx) error { _, err := tx.Molecules().FindMoleculeByID(bg, r.mol.ID); return err },
		"Molecules.FindMolecules":                func(tx app.Tx) error { _, err := tx.Molecules().FindMolecules(bg, app.Page{}); return err },
		"Molecules.FindMoleculesByID": func(tx app.Tx) error {
			_, err := tx.Molecules().FindMoleculesByID(bg, r.mol.ID)
			return err
		},
		"Molecules.DeleteMolecule":        func(tx app.Tx) error { return tx.Molecules().DeleteMolecule(bg, r.mol.ID) },
		"Molecules.StorageUsed":           func(tx app.Tx) error { _, err := tx.Molecules().StorageUsed(bg); return err },
		"Uploads.CreateUpload":            func(tx app.Tx) error { u := r.up; u.ID = id; return tx.Uploads().CreateUpload(bg, u) },
		"Uploads.FindUploadByID":          func(tx app.Tx) error { _, err := tx.Uploads().FindUploadByID(bg, r.up.ID); return err },
		"Uploads.FindUploadByIDForUpdate": func(tx app.Tx) error { _, err := tx.Uploads().FindUploadByIDForUpdate(bg, r.up.ID); return err },
		"Uploads.UpdateUpload":            func(tx app.Tx) error { return tx.Uploads().UpdateUpload(bg, r.up) },
		"Pipelines.FindPipelineByID": func(tx app.Tx) error {
			_, err := tx.Pipelines().FindPipelineByID(bg, domain.BuiltinPipelineID)
			return err
		},
		"Pipelines.FindPipelines":  func(tx app.Tx) error { _, err := tx.Pipelines().FindPipelines(bg, app.Page{}); return err },
		"Pipelines.CreatePipeline": func(tx app.Tx) error { p := r.pl; p.ID = id; return tx.Pipelines().CreatePipeline(bg, p, r.user.ID) },
		"Pipelines.ParamsSchema":   func(tx app.Tx) error { _, err := tx.Pipelines().ParamsSchema(bg, domain.BuiltinPipelineID); return err },
		"Jobs.CreateJob":           func(tx app.Tx) error { return tx.Jobs().CreateJob(bg, testJob(r.a.ID, now)) },
		"Jobs.FindJobByID":         func(tx app.Tx) error { _, err := tx.Jobs().FindJobByID(bg, r.job.ID); return err },
		"Jobs.FindJobs":            func(tx app.Tx) error { _, err := tx.Jobs().FindJobs(bg, app.JobFilter{}, app.Page{}); return err },
		"Jobs.UpdateJob": func(tx app.Tx) error {
			_, err := tx.Jobs().UpdateJob(bg, r.job.ID, func(j *domain.Job) error { return nil })
			return err
		},
		"Jobs.FindJobEvents":   func(tx app.Tx) error { _, err := tx.Jobs().FindJobEvents(bg, r.job.ID); return err },
		"Jobs.CountActiveJobs": func(tx app.Tx) error { _, err := tx.Jobs().CountActiveJobs(bg); return err },
		"Jobs.SaveResults":     func(tx app.Tx) error { return tx.Jobs().SaveResults(bg, app.JobResults{JobID: r.outboxJob.ID}) },
		"Jobs.FindResults":     func(tx app.Tx) error { _, err := tx.Jobs().FindResults(bg, r.job.ID); return err },
		"Jobs.FindArtifact":    func(tx app.Tx) error { _, err := tx.Jobs().FindArtifact(bg, r.job.ID, "vina.log"); return err },
		"Jobs.FindCachedJob":   func(tx app.Tx) error { _, _, err := tx.Jobs().FindCachedJob(bg, r.sig); return err },
		"Jobs.PutCache":        func(tx app.Tx) error { return tx.Jobs().PutCache(bg, "sig-"+id, r.job.ID) },
		"Jobs.LockIdempotencyKey": func(tx app.Tx) error {
			return tx.Jobs().LockIdempotencyKey(bg, r.user.ID, r.idemKey)
		},
		"Jobs.FindIdempotencyKey": func(tx app.Tx) error { _, _, err := tx.Jobs().FindIdempotencyKey(bg, r.user.ID, r.idemKey); return err },
		"Jobs.SaveIdempotencyKey": func(tx app.Tx) error {
			return tx.Jobs().SaveIdempotencyKey(bg, r.user.ID, app.IdempotencyRecord{Key: id, RequestHash: "h", JobID: r.job.ID, ResponseStatus: 202, ExpiresAt: now.Add(time.Hour)})
		},
		"Jobs.MarkOutboxSent":               func(tx app.Tx) error { return tx.Jobs().MarkOutboxSent(bg, r.outboxJob.ID, now) },
		"Jobs.DeleteExpiredIdempotencyKeys": func(tx app.Tx) error { _, err := tx.Jobs().DeleteExpiredIdempotencyKeys(bg, now); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := in(t, d.Store, "", call)
			if err == nil {
				t.Fatal("ran in the global scope")
			}
			if domain.ErrorCode(err) != domain.CodeInternal {
				t.Fatalf("got %v; a tenant repository in the global scope is a programming error, not a client's", err)
			}
		})
	}
	stillInA(t, d, r)

	t.Run("mixed tables show the global scope only org-less rows", func(t *testing.T) {
		must(t, in(t, d.Store, "", func(tx app.Tx) error {
			if _, err := tx.Users().FindUserByID(bg, r.user.ID); domain.ErrorCode(err) != domain.CodeUserNotFound {
				t.Errorf("global FindUserByID of an org user: %v", err)
			}
			if _, err := tx.Tokens().FindRefreshTokenForUpdate(bg, r.rt.JTI); domain.ErrorCode(err) != domain.CodeUnauthorized {
				t.Errorf("global FindRefreshTokenForUpdate of an org token: %v", err)
			}
			us, err := tx.Users().FindUsers(bg, app.Page{Limit: 200})
			if err != nil {
				return err
			}
			for _, u := range us {
				if u.OrgID != "" {
					t.Errorf("global FindUsers lists a user of org %s", u.OrgID)
				}
			}
			evs, err := tx.Audit().FindAudit(bg, app.AuditFilter{}, app.Page{Limit: 200})
			if err != nil {
				return err
			}
			for _, e := range evs {
				if e.OrgID != "" {
					t.Errorf("global FindAudit lists an entry of org %s", e.OrgID)
				}
			}
			return nil
		}))
	})
}

func TestBuiltinPipelineIsSharedButReadOnly(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	a, b := testenv.NewOrg(t, d), testenv.NewOrg(t, d)
	for _, org := range []domain.Org{a, b} {
		must(t, in(t, d.Store, org.ID, func(tx app.Tx) error {
			p, err := tx.Pipelines().FindPipelineByID(bg, domain.BuiltinPipelineID)
			if err != nil {
				return err
			}
			if p.OrgID != "" || p.Name != domain.BuiltinPipelineName || p.Version != domain.BuiltinPipelineVersion || *p.Defaults.Exhaustiveness != 8 {
				t.Errorf("built-in pipeline as seen by %s: %+v", org.ID, p)
			}
			schema, err := tx.Pipelines().ParamsSchema(bg, domain.BuiltinPipelineID)
			if err != nil || len(schema) == 0 {
				t.Errorf("schema: %d bytes, %v", len(schema), err)
			}
			return nil
		}))
	}

	t.Run("CreatePipeline cannot overwrite it", func(t *testing.T) {
		err := in(t, d.Store, a.ID, func(tx app.Tx) error {
			return tx.Pipelines().CreatePipeline(bg, domain.Pipeline{ID: domain.BuiltinPipelineID, OrgID: a.ID, Name: "hijack",
				Engine: domain.EngineVina, Version: "6.6.6", CreatedAt: time.Now()}, domain.NewID())
		})
		wantCode(t, err, domain.CodeConflict)
	})
	t.Run("the application role cannot change it in SQL", func(t *testing.T) {
		conn, err := pgx.Connect(bg, d.AppURL)
		must(t, err)
		defer conn.Close(bg)
		for _, stmt := range []string{
			`UPDATE pipelines SET name = 'hijack' WHERE id = '` + domain.BuiltinPipelineID + `'`,
			`DELETE FROM pipelines WHERE id = '` + domain.BuiltinPipelineID + `'`,
			`INSERT INTO pipelines (id, org_id, name, engine, version, params_schema) VALUES ('` + domain.NewID() + `', NULL, 'fake', 'vina', '9.9.9', '{}')`,
		} {
			err := pgx.BeginFunc(bg, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(bg, `SELECT set_config('app.org_id', $1, true)`, a.ID); err != nil {
					return err
				}
				_, err := tx.Exec(bg, stmt)
				return err
			})
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42501" {
				t.Errorf("%s: want 42501, got %v", stmt, err)
			}
		}
	})
	t.Run("it is unchanged", func(t *testing.T) {
		must(t, in(t, d.Store, b.ID, func(tx app.Tx) error {
			ps, err := tx.Pipelines().FindPipelines(bg, app.Page{Limit: 200})
			if err != nil {
				return err
			}
			if len(ps) != 1 || ps[0].ID != domain.BuiltinPipelineID || ps[0].Name != domain.BuiltinPipelineName {
				t.Errorf("org B sees %+v", ps)
			}
			return nil
		}))
	})
}
