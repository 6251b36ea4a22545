package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/sqsqueue"
	"github.com/mad-bio/mad/shared/testenv"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// sqsEvent loads the jobs-queue sample event and puts one delivered
// message into it, as Lambda's event source mapping does.
func sqsEvent(t testing.TB, m sqstypes.Message) events.SQSEvent {
	t.Helper()
	ev := apitest.LoadEvent[events.SQSEvent](t, "sqs/jobs-message.json")
	r := &ev.Records[0]
	r.MessageId, r.ReceiptHandle, r.Body = aws.ToString(m.MessageId), aws.ToString(m.ReceiptHandle), aws.ToString(m.Body)
	r.Md5OfBody = aws.ToString(m.MD5OfBody)
	r.Attributes["ApproximateReceiveCount"] = m.Attributes["ApproximateReceiveCount"]
	return ev
}

// bodyEvent is the sample event with another body (a message that never
// went through SQS).
func bodyEvent(t testing.TB, body string, receiveCount int) events.SQSEvent {
	t.Helper()
	sum := md5.Sum([]byte(body))
	return sqsEvent(t, sqstypes.Message{MessageId: aws.String(domain.NewID()), ReceiptHandle: aws.String("handle"),
		Body: aws.String(body), MD5OfBody: aws.String(hex.EncodeToString(sum[:])),
		Attributes: map[string]string{"ApproximateReceiveCount": fmt.Sprint(receiveCount)}})
}

// dockFunc is the docking port (vina itself is tested in shared/vina).
type dockFunc func(ctx context.Context, req app.DockRequest) (app.DockResult, error)

func (f dockFunc) Dock(ctx context.Context, req app.DockRequest) (app.DockResult, error) {
	return f(ctx, req)
}

var docked = app.DockResult{
	Scores:     []app.Score{{Pose: 1, Affinity: -13.3}, {Pose: 2, Affinity: -12.1, RMSDLB: 1.5, RMSDUB: 2.5}},
	PosesPDBQT: []byte("MODEL 1\nENDMDL\n"), PosesSDF: []byte("imatinib\n$$$$\n"), Log: []byte("AutoDock Vina v1.2.3\n"),
	EngineVersion: "1.2.3",
}

type fixture struct {
	env   *apptest.Env
	h     handler
	org   domain.Org
	user  apptest.Member
	dock  atomic.Pointer[dockFunc]
	calls atomic.Int32
	// inputs is what the last docking run found in its scratch dir.
	inputs atomic.Pointer[[2][]byte]
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	ok := dockFunc(func(context.Context, app.DockRequest) (app.DockResult, error) { return docked, nil })
	f.dock.Store(&ok)
	f.env = apptest.New(t, apptest.Options{Docker: dockFunc(func(ctx context.Context, req app.DockRequest) (app.DockResult, error) {
		f.calls.Add(1)
		r, _ := os.ReadFile(req.Receptor.Path)
		l, _ := os.ReadFile(req.Ligand.Path)
		f.inputs.Store(&[2][]byte{r, l})
		return (*f.dock.Load())(ctx, req)
	})})
	f.h = handler{engine: f.env.Engine, decode: sqsqueue.DecodeJobMessage, log: apptest.Quiet}
	var admin apptest.Member
	f.org, admin = f.env.NewOrg(t)
	f.user = f.env.NewUser(t, admin, domain.RoleStandard)
	return f
}

func (f *fixture) setDock(d dockFunc) { f.dock.Store(&d) }

// newJob creates a job through the use case, which sends its message to
// the jobs queue, and returns the job and the delivered message.
func (f *fixture) newJob(t *testing.T) (*domain.Job, sqstypes.Message) {
	t.Helper()
	ctx := context.Background()
	p := f.user.Principal
	mol := func(name, format, file string) domain.Molecule {
		m, err := f.env.Molecules.CreateMolecule(ctx, p, app.NewMoleculeInput{Name: name, Format: format, Content: apitest.Testdata(t, "1iep/"+file)})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	rec, lig := mol("receptor", "pdbqt", "1iep_receptor.pdbqt"), mol("ligand", "pdbqt", "1iep_ligand.pdbqt")
	seed := rand.Int64N(1<<31) + 1 // a distinct input signature: never a cache hit
	res, err := f.env.Jobs.CreateJob(ctx, p, app.CreateJobInput{PipelineID: domain.BuiltinPipelineID, Receptor: rec.ID, Ligand: lig.ID,
		Params: domain.VinaParamsPatch{Center: &[3]float64{15.19, 53.903, 16.917}, Size: &[3]float64{20, 20, 20}, Seed: &seed}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Job, f.receive(t, res.Job.ID)
}

// receive waits for the job's message on the jobs queue.
func (f *fixture) receive(t *testing.T, jobID string) sqstypes.Message {
	t.Helper()
	for range 5 {
		for _, m := range testenv.Receive(t, f.env.AWS.Queues.URL, 10, 1) {
			if strings.Contains(aws.ToString(m.Body), jobID) {
				return m
			}
		}
	}
	t.Fatalf("no message for job %s on the jobs queue", jobID)
	return sqstypes.Message{}
}

// redeliver makes SQS deliver m again at once, as it would after the
// visibility timeout.
func (f *fixture) redeliver(t *testing.T, m sqstypes.Message) sqstypes.Message {
	t.Helper()
	if _, err := f.env.AWS.SQS.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(f.env.AWS.Queues.URL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &body); err != nil {
		t.Fatal(err)
	}
	return f.receive(t, body["job_id"])
}

func (f *fixture) job(t *testing.T, id string) *domain.Job {
	t.Helper()
	j, err := f.env.Jobs.GetJob(context.Background(), f.user.Principal, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *fixture) handle(t *testing.T, ev events.SQSEvent) events.SQSEventResponse {
	t.Helper()
	resp, err := f.h.handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("handler error (the batch would be retried whole): %v", err)
	}
	return resp
}

func TestEngineCompletesJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	job, msg := f.newJob(t)
	if got := aws.ToString(msg.Body); got != `{"job_id":"`+job.ID+`","org_id":"`+f.org.ID+`"}` {
		t.Fatalf("queue message %s", got)
	}
	ev := sqsEvent(t, msg)
	if ids := apitest.Failures(f.handle(t, ev)); len(ids) != 0 {
		t.Fatalf("batchItemFailures %v for a job that docked", ids)
	}
	j := f.job(t, job.ID)
	if j.Status != domain.JobCompleted || j.Attempts != 1 {
		t.Fatalf("job %s after a run, attempts %d", j.Status, j.Attempts)
	}
	in := f.inputs.Load()
	if in == nil || !bytes.Equal(in[0], apitest.Testdata(t, "1iep/1iep_receptor.pdbqt")) || !bytes.Equal(in[1], apitest.Testdata(t, "1iep/1iep_ligand.pdbqt")) {
		t.Fatal("the docking run did not get the job's molecules")
	}
	keys := testenv.ObjectKeys(t, f.env.AWS.Buckets.Artifacts, f.org.ID+"/jobs/"+job.ID+"/")
	slices.Sort(keys)
	prefix := f.org.ID + "/jobs/" + job.ID + "/"
	if want := []string{prefix + "poses.pdbqt", prefix + "poses.sdf", prefix + "result.json", prefix + "vina.log"}; !slices.Equal(keys, want) {
		t.Fatalf("artifacts %v, want %v", keys, want)
	}

	// A duplicate delivery of a finished job is acknowledged and skipped.
	calls := f.calls.Load()
	if ids := apitest.Failures(f.handle(t, ev)); len(ids) != 0 || f.calls.Load() != calls {
		t.Fatalf("duplicate: failures %v, %d new runs", ids, f.calls.Load()-calls)
	}

	// Through the Lambda runtime's JSON.
	apitest.RequireRuntimeAcks(t, f.h.handle, ev)
}

// TestEngineRetriesTransientFailures: a failure that may pass is reported
// in batchItemFailures with the message id, so SQS redelivers the message;
// the last delivery (maxReceiveCount) fails the job instead.
func TestEngineRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.setDock(func(context.Context, app.DockRequest) (app.DockResult, error) {
		return app.DockResult{}, errors.New("scratch disk full")
	})
	job, msg := f.newJob(t)
	for attempt := 1; attempt < apptest.DefaultMaxReceives; attempt++ {
		if n := msg.Attributes["ApproximateReceiveCount"]; n != fmt.Sprint(attempt) {
			t.Fatalf("delivery %d has ApproximateReceiveCount %s", attempt, n)
		}
		ev := sqsEvent(t, msg)
		if ids := apitest.Failures(f.handle(t, ev)); !slices.Equal(ids, []string{aws.ToString(msg.MessageId)}) {
			t.Fatalf("delivery %d: batchItemFailures %v, want [%s]", attempt, ids, aws.ToString(msg.MessageId))
		}
		if j := f.job(t, job.ID); j.Status != domain.JobRunning || j.Attempts != attempt {
			t.Fatalf("after delivery %d: %s, attempts %d", attempt, j.Status, j.Attempts)
		}
		msg = f.redeliver(t, msg)
	}
	// The last delivery: the job fails and the message is acknowledged.
	if ids := apitest.Failures(f.handle(t, sqsEvent(t, msg))); len(ids) != 0 {
		t.Fatalf("last delivery still reported as failed: %v", ids)
	}
	j := f.job(t, job.ID)
	if j.Status != domain.JobFailed || !strings.Contains(j.Error, "last attempt") {
		t.Fatalf("job %s, error %q", j.Status, j.Error)
	}
}

func TestEngineFailsBadInputAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.setDock(func(context.Context, app.DockRequest) (app.DockResult, error) {
		return app.DockResult{}, fmt.Errorf("%w: ligand has no atoms", app.ErrInvalidInput)
	})
	job, msg := f.newJob(t)
	if ids := apitest.Failures(f.handle(t, sqsEvent(t, msg))); len(ids) != 0 {
		t.Fatalf("bad input reported for retry: %v", ids)
	}
	if j := f.job(t, job.ID); j.Status != domain.JobFailed || !strings.Contains(j.Error, "no atoms") {
		t.Fatalf("job %s, error %q", j.Status, j.Error)
	}
}

// TestEngineAcknowledgesUndecodable: a body no engine can read would fail
// forever; it is dropped (logged), not cycled to the DLQ.
func TestEngineAcknowledgesUndecodable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	org := f.org.ID
	for _, body := range []string{"", "Hello from SQS!", "{}", `{"job_id":"x","org_id":"y"}`,
		`{"job_id":"` + domain.NewID() + `","org_id":"` + org + `","priority":1}`,
		`{"job_id":"` + strings.ToUpper(domain.NewID()) + `","org_id":"` + org + `"}`,
		strings.Repeat(" ", 64<<10)} {
		if ids := apitest.Failures(f.handle(t, bodyEvent(t, body, 1))); len(ids) != 0 {
			t.Fatalf("body %.40q reported for retry", body)
		}
	}
	// A well-formed message for a job that does not exist.
	if ids := apitest.Failures(f.handle(t, bodyEvent(t, `{"job_id":"`+domain.NewID()+`","org_id":"`+org+`"}`, 1))); len(ids) != 0 {
		t.Fatalf("unknown job reported for retry: %v", ids)
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("docked %d times for messages without a job", n)
	}
}

// TestEngineBatch: records are handled one by one; only the failing one
// is reported (the mapping uses batches of 1, but a larger batch must not
// retry its successes).
func TestEngineBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good, goodMsg := f.newJob(t)
	bad, badMsg := f.newJob(t)
	f.setDock(func(context.Context, app.DockRequest) (app.DockResult, error) {
		if f.calls.Load() == 2 { // the second record
			return app.DockResult{}, errors.New("network timeout")
		}
		return docked, nil
	})
	ev := sqsEvent(t, goodMsg)
	ev.Records = append(ev.Records, sqsEvent(t, badMsg).Records[0])
	if ids := apitest.Failures(f.handle(t, ev)); !slices.Equal(ids, []string{aws.ToString(badMsg.MessageId)}) {
		t.Fatalf("batchItemFailures %v, want only %s", ids, aws.ToString(badMsg.MessageId))
	}
	if f.job(t, good.ID).Status != domain.JobCompleted || f.job(t, bad.ID).Status != domain.JobRunning {
		t.Fatal("batch results not per record")
	}
}
