package app_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/sqsqueue"
	"github.com/mad-bio/mad/shared/testenv"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

func TestCreateJobQueuesIt(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	rec, lig := pair(t, env, u)

	res, err := env.Jobs.CreateJob(ctx, u.Principal, jobRequest(rec, lig))
	ok(t, err)
	job := res.Job
	if res.Status != 202 || res.Replayed || job.Cache.Hit || job.Status != domain.JobQueued || job.OrgID != org.ID ||
		job.CreatedBy != u.UserID || job.PipelineVersion != domain.BuiltinPipelineVersion || job.InputSignature == "" {
		t.Fatalf("result %+v job %+v", res, job)
	}
	if got := events(t, env, org.ID, job.ID); !sameEvents(got, []domain.JobEventType{domain.EventCreated, domain.EventQueued}) {
		t.Fatalf("events %v, want CREATED, QUEUED", got)
	}
	stored, err := env.Jobs.GetJob(ctx, u.Principal, job.ID)
	ok(t, err)
	if stored.Status != domain.JobQueued || stored.Params.Exhaustiveness != 1 || stored.Params.EnergyRange != 3 || stored.Params.TimeoutSeconds != 600 {
		t.Fatalf("stored job %+v (defaults must fill energy_range and timeout_seconds)", stored)
	}
	msgs := testenv.Receive(t, env.AWS.Queues.URL, 10, 2)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on the jobs queue, want 1", len(msgs))
	}
	m, err := sqsqueue.DecodeJobMessage(aws.ToString(msgs[0].Body))
	ok(t, err)
	if m.JobID != job.ID || m.OrgID != org.ID {
		t.Fatalf("message %+v", m)
	}
	if e := auditFor(t, env, org.ID, domain.AuditJobCreated, job.ID); len(e) != 1 || e[0].JobID != job.ID {
		t.Fatalf("job.created entries %+v", e)
	}
	if n := count(t, env, "", `SELECT count(*) FROM job_outbox WHERE job_id = $1 AND sent_at IS NOT NULL`, job.ID); n != 1 {
		t.Fatal("the outbox entry is not marked sent")
	}

	t.Run("events and job are invisible to another org", func(t *testing.T) {
		_, other := env.NewOrg(t)
		_, err := env.Jobs.GetJob(ctx, other.Principal, job.ID)
		wantCode(t, err, domain.CodeJobNotFound)
		_, err = env.Jobs.JobEvents(ctx, other.Principal, job.ID)
		wantCode(t, err, domain.CodeJobNotFound)
		_, err = env.Jobs.CancelJob(ctx, other.Principal, job.ID)
		wantCode(t, err, domain.CodeJobNotFound)
	})
}

func TestCreateJobValidation(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	_, otherAdmin := env.NewOrg(t)
	rec, lig := pair(t, env, admin)
	foreignRec, foreignLig := pair(t, env, otherAdmin)
	sdf := molecule(t, env, admin, "sdf", domain.FormatSDF, testdata(t, "1iep_ligand.sdf"))
	pdb := molecule(t, env, admin, "pdb", domain.FormatPDB, testdata(t, "1iep_receptorH.pdb"))

	with := func(f func(*app.CreateJobInput)) app.CreateJobInput {
		in := jobRequest(rec, lig)
		f(&in)
		return in
	}
	cases := []struct {
		name  string
		in    app.CreateJobInput
		code  domain.Code
		field string
	}{
		{"receptor of another org", with(func(in *app.CreateJobInput) { in.Receptor = foreignRec.ID }), domain.CodeValidation, "inputs.receptor"},
		{"receptor URI of another org", with(func(in *app.CreateJobInput) { in.Receptor = foreignRec.URI() }), domain.CodeValidation, "inputs.receptor"},
		{"ligand of another org", with(func(in *app.CreateJobInput) { in.Ligand = foreignLig.ID }), domain.CodeValidation, "inputs.ligand"},
		{"receptor in SDF format", with(func(in *app.CreateJobInput) { in.Receptor = sdf.ID }), domain.CodeValidation, "inputs.receptor"},
		{"ligand in PDB format", with(func(in *app.CreateJobInput) { in.Ligand = pdb.ID }), domain.CodeValidation, "inputs.ligand"},
		{"receptor missing", with(func(in *app.CreateJobInput) { in.Receptor = "" }), domain.CodeValidation, "inputs.receptor"},
		{"receptor not an id", with(func(in *app.CreateJobInput) { in.Receptor = "../../etc/passwd" }), domain.CodeValidation, "inputs.receptor"},
		{"box size below 1", with(func(in *app.CreateJobInput) { in.Params.Size = &[3]float64{20, 0.5, 20} }), domain.CodeValidation, "params.size[1]"},
		{"box size above 126", with(func(in *app.CreateJobInput) { in.Params.Size = &[3]float64{127, 20, 20} }), domain.CodeValidation, "params.size[0]"},
		{"center missing", with(func(in *app.CreateJobInput) { in.Params.Center = nil }), domain.CodeValidation, "params.center"},
		{"exhaustiveness 33", with(func(in *app.CreateJobInput) { in.Params.Exhaustiveness = ptr(33) }), domain.CodeValidation, "params.exhaustiveness"},
		{"num_modes 0", with(func(in *app.CreateJobInput) { in.Params.NumModes = ptr(0) }), domain.CodeValidation, "params.num_modes"},
		{"energy_range 11", with(func(in *app.CreateJobInput) { in.Params.EnergyRange = ptr(11.0) }), domain.CodeValidation, "params.energy_range"},
		{"timeout_seconds 841", with(func(in *app.CreateJobInput) { in.Params.TimeoutSeconds = ptr(841) }), domain.CodeValidation, "params.timeout_seconds"},
		{"seed 0", with(func(in *app.CreateJobInput) { in.Params.Seed = ptr(int64(0)) }), domain.CodeValidation, "params.seed"},
		{"pipeline version mismatch", with(func(in *app.CreateJobInput) { in.PipelineVersion = "9.9.9" }), domain.CodeValidation, "pipeline_version"},
		{"unknown pipeline", with(func(in *app.CreateJobInput) { in.PipelineID = domain.NewID() }), domain.CodePipelineNotFound, ""},
		{"bad Idempotency-Key", with(func(in *app.CreateJobInput) { in.IdempotencyKey = "has space" }), domain.CodeValidation, "Idempotency-Key"},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				_, err := env.Jobs.CreateJob(ctx, admin.Principal, tc.in)
				if tc.field != "" {
					wantField(t, err, tc.field)
				} else {
					wantCode(t, err, tc.code)
				}
			})
		}
	})
	if n := count(t, env, org.ID, `SELECT count(*) FROM jobs`); n != 0 {
		t.Fatalf("%d jobs written by refused requests", n)
	}
	if msgs := testenv.Receive(t, env.AWS.Queues.URL, 10, 0); len(msgs) != 0 {
		t.Fatalf("%d messages sent for refused requests", len(msgs))
	}
	t.Run("a suspended org cannot create jobs", func(t *testing.T) {
		root := env.NewRoot(t)
		_, err := env.Admin.UpdateOrg(ctx, root.Principal, org.ID, app.OrgPatch{Status: ptr(domain.OrgSuspended)})
		ok(t, err)
		_, err = env.Jobs.CreateJob(ctx, admin.Principal, jobRequest(rec, lig))
		wantCode(t, err, domain.CodeOrgForbidden)
	})
}

func TestMaxActiveJobsQuota(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})

	t.Run("sequential", func(t *testing.T) {
		t.Parallel()
		org, admin := env.NewOrg(t)
		rec, lig := pair(t, env, admin)
		env.SetQuotas(t, org.ID, ptr(2), nil)
		newJob(t, env, admin, jobRequest(rec, lig))
		newJob(t, env, admin, jobRequest(rec, lig))
		_, err := env.Jobs.CreateJob(ctx, admin.Principal, jobRequest(rec, lig))
		wantCode(t, err, domain.CodeQuotaExceeded)
	})
	t.Run("20 concurrent creations with quota 5", func(t *testing.T) {
		t.Parallel()
		org, admin := env.NewOrg(t)
		rec, lig := pair(t, env, admin)
		env.SetQuotas(t, org.ID, ptr(5), nil)
		errs := parallel(20, func(int) error {
			_, err := env.Jobs.CreateJob(ctx, admin.Principal, jobRequest(rec, lig))
			return err
		})
		created := 0
		for _, err := range errs {
			switch domain.ErrorCode(err) {
			case domain.CodeQuotaExceeded:
			default:
				ok(t, err)
				created++
			}
		}
		if created != 5 {
			t.Fatalf("%d jobs created, want exactly 5", created)
		}
		if n := count(t, env, org.ID, `SELECT count(*) FROM jobs`); n != 5 {
			t.Fatalf("%d job rows, want 5", n)
		}
	})
	t.Run("an Idempotency-Key replay is not refused by a full quota", func(t *testing.T) {
		t.Parallel()
		org, admin := env.NewOrg(t)
		rec, lig := pair(t, env, admin)
		env.SetQuotas(t, org.ID, ptr(1), nil)
		in := jobRequest(rec, lig)
		in.IdempotencyKey, in.RequestHash = "k", "h"
		first := newJob(t, env, admin, in)
		res, err := env.Jobs.CreateJob(ctx, admin.Principal, in)
		ok(t, err)
		if !res.Replayed || res.Job.ID != first.ID || res.Status != 202 {
			t.Fatalf("replay %+v", res)
		}
	})
	t.Run("finished jobs do not count", func(t *testing.T) {
		t.Parallel()
		org, admin := env.NewOrg(t)
		rec, lig := pair(t, env, admin)
		env.SetQuotas(t, org.ID, ptr(1), nil)
		j := newJob(t, env, admin, jobRequest(rec, lig))
		_, err := env.Jobs.CancelJob(ctx, admin.Principal, j.ID)
		ok(t, err)
		newJob(t, env, admin, jobRequest(rec, lig))
	})
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	rec, lig := pair(t, env, u)
	in := jobRequest(rec, lig)
	in.IdempotencyKey, in.RequestHash = "key-"+domain.NewID(), app.RequestHash("body one")

	first, err := env.Jobs.CreateJob(ctx, u.Principal, in)
	ok(t, err)
	again, err := env.Jobs.CreateJob(ctx, u.Principal, in)
	ok(t, err)
	if again.Job.ID != first.Job.ID || !again.Replayed || again.Status != first.Status || first.Replayed {
		t.Fatalf("first %+v (job %s), replay %+v (job %s)", first, first.Job.ID, again, again.Job.ID)
	}

	t.Run("same key with another body is CONFLICT", func(t *testing.T) {
		other := in
		other.RequestHash = app.RequestHash("body two")
		_, err := env.Jobs.CreateJob(ctx, u.Principal, other)
		wantCode(t, err, domain.CodeConflict)
	})
	t.Run("keys belong to their subject", func(t *testing.T) {
		v := env.NewUser(t, admin, domain.RoleStandard)
		res, err := env.Jobs.CreateJob(ctx, v.Principal, in)
		ok(t, err)
		if res.Job.ID == first.Job.ID || res.Replayed {
			t.Fatal("another user's request replayed the first user's job")
		}
	})
	t.Run("concurrent requests with one key make one job", func(t *testing.T) {
		c := in
		c.IdempotencyKey = "key-" + domain.NewID()
		ids := make([]string, 10)
		errs := parallel(10, func(i int) error {
			res, err := env.Jobs.CreateJob(ctx, u.Principal, c)
			if err == nil {
				ids[i] = res.Job.ID
			}
			return err
		})
		for _, err := range errs {
			ok(t, err)
		}
		slices.Sort(ids)
		if ids = slices.Compact(ids); len(ids) != 1 {
			t.Fatalf("%d distinct jobs for one key: %v", len(ids), ids)
		}
		if n := count(t, env, org.ID, `SELECT count(*) FROM idempotency_keys WHERE key = $1`, c.IdempotencyKey); n != 1 {
			t.Fatalf("%d idempotency rows", n)
		}
	})
	if n := count(t, env, org.ID, `SELECT count(*) FROM jobs`); n != 3 {
		t.Fatalf("%d jobs, want 3 (first, other user's, concurrent)", n)
	}
}

// completedJob creates a job as m and drives the engine to completion.
func completedJob(t *testing.T, env *apptest.Env, m apptest.Member, in app.CreateJobInput) *domain.Job {
	t.Helper()
	job := newJob(t, env, m, in)
	ok(t, process(env, job, 1))
	done := getJob(t, env, m.OrgID, job.ID)
	if done.Status != domain.JobCompleted {
		t.Fatalf("job is %s after processing (%s)", done.Status, done.Error)
	}
	return done
}

func TestResultCache(t *testing.T) {
	t.Parallel()
	docker, _ := cannedDocker(t)
	env := apptest.New(t, apptest.Options{Docker: docker})
	orgA, adminA := env.NewOrg(t)
	u := env.NewUser(t, adminA, domain.RoleStandard)
	rec, lig := pair(t, env, u)
	canonical := completedJob(t, env, u, jobRequest(rec, lig))

	hit, err := env.Jobs.CreateJob(ctx, u.Principal, jobRequest(rec, lig))
	ok(t, err)
	if hit.Status != 200 || hit.Job.Status != domain.JobCompleted || !hit.Job.Cache.Hit || hit.Job.Cache.CanonicalJobID != canonical.ID ||
		hit.Job.ID == canonical.ID || hit.Job.InputSignature != canonical.InputSignature {
		t.Fatalf("second request: %+v job %+v, want a 200 cache hit on %s", hit, hit.Job, canonical.ID)
	}
	if got := events(t, env, orgA.ID, hit.Job.ID); !sameEvents(got, []domain.JobEventType{domain.EventCreated, domain.EventCompleted}) {
		t.Fatalf("cache-hit events %v", got)
	}

	t.Run("results of a cache hit are the canonical job's", func(t *testing.T) {
		want, err := env.Jobs.JobResults(ctx, u.Principal, canonical.ID)
		ok(t, err)
		got, err := env.Jobs.JobResults(ctx, u.Principal, hit.Job.ID)
		ok(t, err)
		if got.JobID != hit.Job.ID || !slices.Equal(got.Scores, want.Scores) || len(got.Artifacts) != 4 ||
			!slices.Equal(got.Artifacts, want.Artifacts) || got.EngineVersion != want.EngineVersion {
			t.Fatalf("cache hit results %+v, want the canonical %+v", got, want)
		}
		d, err := env.Jobs.JobFile(ctx, u.Principal, hit.Job.ID, "poses.pdbqt")
		ok(t, err)
		status, body := httpDo(t, http.MethodGet, d.URL, nil, nil)
		if status != 200 || !bytes.Equal(body, testdata(t, "1iep_ligand_vina_out.pdbqt")) {
			t.Fatalf("cache hit poses: %d, %d bytes", status, len(body))
		}
	})
	t.Run("use_cache=false makes a new job", func(t *testing.T) {
		in := jobRequest(rec, lig)
		in.UseCache = false
		res, err := env.Jobs.CreateJob(ctx, u.Principal, in)
		ok(t, err)
		if res.Status != 202 || res.Job.Cache.Hit || res.Job.Status != domain.JobQueued {
			t.Fatalf("use_cache=false: %+v job %+v", res, res.Job)
		}
	})
	t.Run("other params miss", func(t *testing.T) {
		in := jobRequest(rec, lig)
		in.Params.Seed = ptr(int64(7))
		res, err := env.Jobs.CreateJob(ctx, u.Principal, in)
		ok(t, err)
		if res.Job.Cache.Hit {
			t.Fatal("a different seed hit the cache")
		}
	})
	t.Run("timeout_seconds is not part of the signature", func(t *testing.T) {
		in := jobRequest(rec, lig)
		in.Params.TimeoutSeconds = ptr(60)
		res, err := env.Jobs.CreateJob(ctx, u.Principal, in)
		ok(t, err)
		if !res.Job.Cache.Hit {
			t.Fatal("a different timeout missed the cache")
		}
	})
	t.Run("the cache never crosses orgs", func(t *testing.T) {
		_, adminB := env.NewOrg(t)
		recB, ligB := pair(t, env, adminB) // byte-identical molecules
		res, err := env.Jobs.CreateJob(ctx, adminB.Principal, jobRequest(recB, ligB))
		ok(t, err)
		if res.Status != 202 || res.Job.Cache.Hit || res.Job.InputSignature != canonical.InputSignature {
			t.Fatalf("org B: %+v job %+v; want a miss with the same signature", res, res.Job)
		}
	})
}

func TestJobResultsAndFiles(t *testing.T) {
	t.Parallel()
	docker, _ := cannedDocker(t)
	env := apptest.New(t, apptest.Options{Docker: docker})
	org, admin := env.NewOrg(t)
	viewer := env.NewUser(t, admin, domain.RoleViewer)
	rec, lig := pair(t, env, admin)

	pending := newJob(t, env, admin, jobRequest(rec, lig))
	_, err := env.Jobs.JobResults(ctx, viewer.Principal, pending.ID)
	wantCode(t, err, domain.CodeJobNotCompleted)
	_, err = env.Jobs.JobFile(ctx, viewer.Principal, pending.ID, "poses.pdbqt")
	wantCode(t, err, domain.CodeArtifactNotFound)

	in := jobRequest(rec, lig)
	in.UseCache = false
	job := completedJob(t, env, admin, in)
	res, err := env.Jobs.JobResults(ctx, viewer.Principal, job.ID)
	ok(t, err)
	want := canned(t).Scores
	if !slices.Equal(res.Scores, want) || res.Scores[0].Pose != 1 || len(res.Tasks) != 1 || res.Tasks[0].TaskName != "dock" ||
		res.Tasks[0].ServiceName != "vina" || res.Tasks[0].SchemaVersion != "1" {
		t.Fatalf("results %+v", res)
	}

	for _, name := range []string{"poses.txt", "../poses.pdbqt", "", "result.json/../vina.log", "POSES.PDBQT"} {
		_, err := env.Jobs.JobFile(ctx, viewer.Principal, job.ID, name)
		wantCode(t, err, domain.CodeArtifactNotFound)
	}
	d, err := env.Jobs.JobFile(ctx, viewer.Principal, job.ID, "vina.log")
	ok(t, err)
	if status, body := httpDo(t, http.MethodGet, d.URL, nil, nil); status != 200 || !bytes.Equal(body, canned(t).Log) {
		t.Fatalf("vina.log: %d %q", status, body)
	}
	uri := domain.JobArtifactURI(org.ID, job.ID, "vina.log")
	if e := auditFor(t, env, org.ID, domain.AuditArtifactAccessed, uri); len(e) != 1 || e[0].JobID != job.ID {
		t.Fatalf("artifact.accessed entries %+v", e)
	}

	t.Run("Artifact by URI", func(t *testing.T) {
		d, err := env.Jobs.Artifact(ctx, viewer.Principal, domain.JobArtifactURI(org.ID, job.ID, "result.json"))
		ok(t, err)
		if status, _ := httpDo(t, http.MethodGet, d.URL, nil, nil); status != 200 {
			t.Fatalf("result.json: %d", status)
		}
		d, err = env.Jobs.Artifact(ctx, viewer.Principal, lig.URI())
		ok(t, err)
		if status, body := httpDo(t, http.MethodGet, d.URL, nil, nil); status != 200 || !bytes.Equal(body, testdata(t, "1iep_ligand.pdbqt")) {
			t.Fatalf("ligand by URI: %d", status)
		}
	})
	t.Run("Artifact refuses other orgs and junk", func(t *testing.T) {
		orgB, adminB := env.NewOrg(t)
		recB, _ := pair(t, env, adminB)
		for _, uri := range []string{
			domain.JobArtifactURI(org.ID, job.ID, "result.json"), // org A's, asked by org B
			recB.URI(), // org B's, but named as org A's below
			"mad://org/" + org.ID + "/molecules/" + recB.ID + ".pdbqt",
			"mad://org/" + orgB.ID + "/jobs/" + job.ID + "/result.json",
			"mad://org/" + org.ID + "/jobs/" + job.ID + "/../../x",
			"s3://bucket/key",
		} {
			_, err := env.Jobs.Artifact(ctx, adminB.Principal, uri)
			if uri == recB.URI() {
				ok(t, err) // its own molecule is fine
				continue
			}
			wantCode(t, err, domain.CodeArtifactNotFound)
		}
		_, err := env.Jobs.JobFile(ctx, adminB.Principal, job.ID, "poses.pdbqt")
		wantCode(t, err, domain.CodeJobNotFound)
		_, err = env.Jobs.JobResults(ctx, adminB.Principal, job.ID)
		wantCode(t, err, domain.CodeJobNotFound)
	})
}

func TestCancelJob(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	creator := env.NewUser(t, admin, domain.RoleStandard)
	colleague := env.NewUser(t, admin, domain.RoleStandard)
	operator := env.NewUser(t, admin, domain.RoleOperator)
	rec, lig := pair(t, env, creator)
	in := jobRequest(rec, lig)

	cases := []struct {
		name   string
		by     apptest.Member
		finish bool
		code   domain.Code
	}{
		{"the creator may cancel", creator, false, ""},
		{"another standard user may not", colleague, false, domain.CodeForbidden},
		{"an operator may cancel anyone's", operator, false, ""},
		{"a finished job is CONFLICT", creator, true, domain.CodeConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob(t, env, creator, in)
			if tc.finish {
				_, err := env.Jobs.CancelJob(ctx, creator.Principal, job.ID)
				ok(t, err)
			}
			before := events(t, env, org.ID, job.ID)
			got, err := env.Jobs.CancelJob(ctx, tc.by.Principal, job.ID)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				if after := events(t, env, org.ID, job.ID); !sameEvents(after, before) {
					t.Fatalf("refused cancel changed events %v -> %v", before, after)
				}
				return
			}
			ok(t, err)
			if got.Status != domain.JobCancelled || got.FinishedAt == nil {
				t.Fatalf("job %+v", got)
			}
			if evs := events(t, env, org.ID, job.ID); evs[len(evs)-1] != domain.EventCancelled {
				t.Fatalf("events %v", evs)
			}
			if e := auditFor(t, env, org.ID, domain.AuditJobCancelled, job.ID); len(e) != 1 || e[0].ActorID != tc.by.UserID {
				t.Fatalf("job.cancelled entries %+v", e)
			}
		})
	}
}

func TestPipelines(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	orgA, adminA := env.NewOrg(t)
	_, adminB := env.NewOrg(t)
	viewer := env.NewUser(t, adminA, domain.RoleViewer)
	rec, lig := pair(t, env, adminA)

	defaults := domain.VinaParamsPatch{Center: &[3]float64{15.190, 53.903, 16.917}, Size: &[3]float64{22, 22, 22}, Exhaustiveness: ptr(2)}
	pl, err := env.Jobs.CreatePipeline(ctx, adminA.Principal, app.NewPipelineInput{Name: "imatinib screen", Engine: "vina", Version: "1.0.0", Defaults: defaults})
	ok(t, err)
	if pl.OrgID != orgA.ID {
		t.Fatalf("pipeline %+v", pl)
	}

	t.Run("the org sees the built-in and its own", func(t *testing.T) {
		page, err := env.Jobs.ListPipelines(ctx, viewer.Principal, app.Page{})
		ok(t, err)
		var ids []string
		for _, p := range page.Items {
			ids = append(ids, p.ID)
			if len(p.ParamsSchema) == 0 {
				t.Fatalf("pipeline %s without a schema", p.ID)
			}
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []string{domain.BuiltinPipelineID, pl.ID}) {
			t.Fatalf("org A lists %v", ids)
		}
	})
	t.Run("another org sees only the built-in", func(t *testing.T) {
		page, err := env.Jobs.ListPipelines(ctx, adminB.Principal, app.Page{})
		ok(t, err)
		if len(page.Items) != 1 || page.Items[0].ID != domain.BuiltinPipelineID {
			t.Fatalf("org B lists %+v", page.Items)
		}
		_, err = env.Jobs.GetPipeline(ctx, adminB.Principal, pl.ID)
		wantCode(t, err, domain.CodePipelineNotFound)
		recB, ligB := pair(t, env, adminB)
		in := jobRequest(recB, ligB)
		in.PipelineID = pl.ID
		_, err = env.Jobs.CreateJob(ctx, adminB.Principal, in)
		wantCode(t, err, domain.CodePipelineNotFound)
	})
	t.Run("a job takes the pipeline's defaults", func(t *testing.T) {
		job := newJob(t, env, adminA, app.CreateJobInput{PipelineID: pl.ID, Receptor: rec.ID, Ligand: lig.ID, UseCache: true})
		if job.Params.Size != [3]float64{22, 22, 22} || job.Params.Exhaustiveness != 2 || job.Params.NumModes != 9 || job.PipelineVersion != "1.0.0" {
			t.Fatalf("params %+v", job.Params)
		}
	})
	t.Run("published versions are immutable and names are checked", func(t *testing.T) {
		_, err := env.Jobs.CreatePipeline(ctx, adminA.Principal, app.NewPipelineInput{Name: "imatinib screen", Engine: "vina", Version: "1.0.0"})
		wantCode(t, err, domain.CodeConflict)
		_, err = env.Jobs.CreatePipeline(ctx, adminA.Principal, app.NewPipelineInput{Name: "Vina-Docking", Engine: "vina", Version: "1.2.3"})
		wantField(t, err, "name")
		_, err = env.Jobs.CreatePipeline(ctx, adminA.Principal, app.NewPipelineInput{Name: "x", Engine: "gnina", Version: "1"})
		wantField(t, err, "engine")
		_, err = env.Jobs.CreatePipeline(ctx, adminA.Principal, app.NewPipelineInput{Name: "x", Engine: "vina", Version: "1", Defaults: domain.VinaParamsPatch{NumModes: ptr(21)}})
		wantField(t, err, "defaults.num_modes")
		// The same name and version in another org is that org's own.
		_, err = env.Jobs.CreatePipeline(ctx, adminB.Principal, app.NewPipelineInput{Name: "imatinib screen", Engine: "vina", Version: "1.0.0"})
		ok(t, err)
	})
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	_, admin := env.NewOrg(t)
	_, other := env.NewOrg(t)
	rec, lig := pair(t, env, admin)
	var ids []string
	for range 5 {
		ids = append(ids, newJob(t, env, admin, jobRequest(rec, lig)).ID)
	}
	cancelled := ids[0]
	_, err := env.Jobs.CancelJob(ctx, admin.Principal, cancelled)
	ok(t, err)

	var walked []string
	page := app.Page{Limit: 2}
	for {
		got, err := env.Jobs.ListJobs(ctx, admin.Principal, app.JobFilter{}, page)
		ok(t, err)
		for _, j := range got.Items {
			walked = append(walked, j.ID)
		}
		if got.NextCursor == "" {
			break
		}
		page.After, err = app.DecodeCursor(got.NextCursor)
		ok(t, err)
	}
	// Ids are UUIDv7: the listing is newest first by id.
	if !slices.IsSortedFunc(walked, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Fatalf("walked %v, want descending ids", walked)
	}
	slices.Sort(walked)
	slices.Sort(ids)
	if !slices.Equal(walked, ids) {
		t.Fatalf("walked %v, want each of %v once", walked, ids)
	}
	got, err := env.Jobs.ListJobs(ctx, admin.Principal, app.JobFilter{Status: domain.JobCancelled}, app.Page{})
	ok(t, err)
	if len(got.Items) != 1 || got.Items[0].ID != cancelled {
		t.Fatalf("CANCELLED filter: %d items", len(got.Items))
	}
	got, err = env.Jobs.ListJobs(ctx, other.Principal, app.JobFilter{}, app.Page{})
	ok(t, err)
	if len(got.Items) != 0 {
		t.Fatalf("another org lists %d jobs", len(got.Items))
	}
}
