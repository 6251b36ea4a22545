package provision_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mad-bio/mad/scripts/devstack/internal/awsx"
	"github.com/mad-bio/mad/scripts/devstack/internal/provision"
	"github.com/mad-bio/mad/scripts/devstack/internal/state"
	"github.com/mad-bio/mad/shared/stack"
)

func clients(t *testing.T) *awsx.Clients {
	t.Helper()
	ep := os.Getenv("MAD_TEST_AWS_ENDPOINT")
	if ep == "" {
		t.Fatal("MAD_TEST_AWS_ENDPOINT is not set: run the tests with `make test` (or scripts/testenv.sh go test ./scripts/...), which starts moto")
	}
	c, err := awsx.New(context.Background(), ep, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func options(t *testing.T, c *awsx.Clients) provision.Options {
	t.Helper()
	acct, err := provision.Account(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return provision.Options{
		Names:      stack.Names{Stage: "t" + strings.ToLower(state.Random(8)), Account: acct, Region: "us-east-1"},
		Visibility: 7,
		DB: provision.DB{Host: "127.0.0.1", Port: 5432, Name: "mad", AppUser: stack.AppDBUser, AppPassword: "app-pw",
			AdminUser: "mad_owner", AdminPassword: "owner-pw"},
	}
}

func secret(t *testing.T, c *awsx.Clients, name, stage string) string {
	t.Helper()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err := c.Secrets.GetSecretValue(context.Background(), in)
	if err != nil {
		t.Fatalf("secret %s %s: %v", name, stage, err)
	}
	return aws.ToString(out.SecretString)
}

func TestProvisionIsIdempotent(t *testing.T) {
	c := clients(t)
	ctx := context.Background()
	o := options(t, c)
	r1, err := provision.Provision(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	jwt1 := secret(t, c, o.Names.JWTSecret(), "")
	o.DB.AppPassword = "app-pw-2"
	r2, err := provision.Provision(ctx, c, o)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if r1.KeyARN != r2.KeyARN || r1.Queues["jobs"].URL != r2.Queues["jobs"].URL {
		t.Errorf("second run made new resources: %+v vs %+v", r1, r2)
	}
	n := o.Names

	// KMS: rotation on, alias points at the key.
	rot, err := c.KMS.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(r2.KeyID)})
	if err != nil || !rot.KeyRotationEnabled {
		t.Errorf("key rotation: %v %+v", err, rot)
	}
	d, err := c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(n.KeyAlias())})
	if err != nil || aws.ToString(d.KeyMetadata.Arn) != r2.KeyARN {
		t.Errorf("alias %s: %v", n.KeyAlias(), err)
	}

	// Buckets.
	for _, b := range []string{n.ArtifactsBucket(), n.UploadsBucket()} {
		enc, err := c.S3.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(b)})
		if err != nil {
			t.Fatalf("%s encryption: %v", b, err)
		}
		rule := enc.ServerSideEncryptionConfiguration.Rules[0]
		if rule.ApplyServerSideEncryptionByDefault.SSEAlgorithm != s3types.ServerSideEncryptionAwsKms ||
			aws.ToString(rule.ApplyServerSideEncryptionByDefault.KMSMasterKeyID) != r2.KeyARN || !aws.ToBool(rule.BucketKeyEnabled) {
			t.Errorf("%s encryption %+v", b, rule)
		}
		v, err := c.S3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b)})
		if err != nil || v.Status != s3types.BucketVersioningStatusEnabled {
			t.Errorf("%s versioning: %v %v", b, err, v)
		}
		pab, err := c.S3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b)})
		if err != nil || !aws.ToBool(pab.PublicAccessBlockConfiguration.BlockPublicAcls) || !aws.ToBool(pab.PublicAccessBlockConfiguration.RestrictPublicBuckets) {
			t.Errorf("%s public access block: %v", b, err)
		}
	}
	cors, err := c.S3.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(n.UploadsBucket())})
	if err != nil || len(cors.CORSRules) != 1 || cors.CORSRules[0].AllowedMethods[0] != "PUT" {
		t.Errorf("uploads CORS: %v %+v", err, cors)
	}

	// Queues: visibility override, redrive to the DLQ, KMS.
	for _, q := range []string{"jobs", "uploads"} {
		a, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(r2.Queues[q].URL),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		var rp struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
			MaxReceiveCount     any    `json:"maxReceiveCount"`
		}
		_ = json.Unmarshal([]byte(a.Attributes["RedrivePolicy"]), &rp)
		if a.Attributes["VisibilityTimeout"] != "7" || rp.DeadLetterTargetArn != r2.Queues[q+"-dlq"].ARN ||
			a.Attributes["KmsMasterKeyId"] != r2.KeyARN {
			t.Errorf("queue %s attributes %v", q, a.Attributes)
		}
	}

	// Secrets, by ARN as the functions are configured.
	for _, name := range []string{n.JWTSecret(), n.DBAppSecret(), n.DBAdminSecret(), n.RootSecret()} {
		if arn := r2.SecretARNs[name]; !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:") || secret(t, c, arn, "") == "" {
			t.Errorf("secret %s: ARN %q", name, arn)
		}
	}
	jwt2 := secret(t, c, n.JWTSecret(), "")
	if jwt1 != jwt2 {
		t.Error("the JWT secret changed on the second run")
	}
	var j provision.JWTSecretValue
	if err := json.Unmarshal([]byte(jwt2), &j); err != nil || j.Alg != "HS256" || !regexp.MustCompile(`^[A-Za-z0-9]{64}$`).MatchString(j.K) {
		t.Errorf("JWT secret %s", jwt2)
	}
	var app provision.RDSSecret
	_ = json.Unmarshal([]byte(secret(t, c, n.DBAppSecret(), "")), &app)
	if app != (provision.RDSSecret{Engine: "postgres", Host: "127.0.0.1", Port: 5432, Username: stack.AppDBUser, Password: "app-pw-2", DBName: "mad"}) {
		t.Errorf("db-app secret %+v", app)
	}
	var root provision.RootSecret
	_ = json.Unmarshal([]byte(secret(t, c, n.RootSecret(), "")), &root)
	if root.Email != provision.DefaultRootEmail || root.Password != provision.DefaultRootPassword {
		t.Errorf("root secret %+v", root)
	}
}

// s3Records receives the uploads queue's S3 event records (skipping the
// s3:TestEvent S3 sends when the notification is configured).
func s3Records(t *testing.T, c *awsx.Clients, url string, within time.Duration) []string {
	t.Helper()
	var keys []string
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		out, err := c.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var ev struct {
				Event   string `json:"Event"`
				Records []struct {
					EventSource string `json:"eventSource"`
					EventName   string `json:"eventName"`
					S3          struct {
						Bucket struct{ Name string } `json:"bucket"`
						Object struct{ Key string }  `json:"object"`
					} `json:"s3"`
				} `json:"Records"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
				t.Fatalf("message %s: %v", aws.ToString(m.Body), err)
			}
			for _, r := range ev.Records {
				if r.EventSource == "aws:s3" && strings.HasPrefix(r.EventName, "ObjectCreated:") {
					keys = append(keys, r.S3.Bucket.Name+"/"+r.S3.Object.Key)
				}
			}
			_, _ = c.SQS.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
		}
		if len(keys) > 0 {
			return keys
		}
	}
	return keys
}

func TestUploadNotifiesQueue(t *testing.T) {
	c := clients(t)
	ctx := context.Background()
	o := options(t, c)
	r, err := provision.Provision(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.UploadsBucket), Key: aws.String("org1/uploads/up1"),
		Body: strings.NewReader("ATOM"), ContentType: aws.String("chemical/x-pdb")}); err != nil {
		t.Fatal(err)
	}
	got := s3Records(t, c, r.Queues["uploads"].URL, 10*time.Second)
	// moto URL-encodes the key in the event ("/" as %2F); S3 encodes it
	// as a URL query value too, so consumers must unescape it either way.
	if len(got) != 1 || (got[0] != r.UploadsBucket+"/org1%2Fuploads%2Fup1" && got[0] != r.UploadsBucket+"/org1/uploads/up1") {
		t.Fatalf("S3 events %v", got)
	}
	h, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(r.UploadsBucket), Key: aws.String("org1/uploads/up1")})
	if err != nil || h.ServerSideEncryption != s3types.ServerSideEncryptionAwsKms || aws.ToString(h.SSEKMSKeyId) != r.KeyARN {
		t.Errorf("default encryption not applied: %v %+v", err, h)
	}
}

func TestSnapshotRestore(t *testing.T) {
	c := clients(t)
	ctx := context.Background()
	o := options(t, c)
	r, err := provision.Provision(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.ArtifactsBucket), Key: aws.String("org1/molecules/m1.pdb"),
		Body: strings.NewReader("HETATM"), ContentType: aws.String("chemical/x-pdb"), Metadata: map[string]string{"sha256": "abc"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.UploadsBucket), Key: aws.String("org1/uploads/u1"),
		Body: strings.NewReader("up")}); err != nil {
		t.Fatal(err)
	}
	old := secret(t, c, o.Names.JWTSecret(), "")
	rotated := provision.NewJWTSecret()
	if _, err := c.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(o.Names.JWTSecret()), SecretString: aws.String(rotated)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() + "/aws"
	snap, err := provision.TakeSnapshot(ctx, c, r, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Objects) != 2 || len(snap.Secrets) != 1 {
		t.Fatalf("snapshot %+v", snap)
	}

	// A fresh endpoint is simulated by a fresh stage.
	o2 := options(t, c)
	o2.SnapshotDir = dir
	r2, err := provision.Provision(ctx, c, o2)
	if err != nil {
		t.Fatal(err)
	}
	if r2.RestoredObjects != 2 || r2.RestoredSecrets != 1 {
		t.Errorf("restored %d objects, %d secrets", r2.RestoredObjects, r2.RestoredSecrets)
	}
	obj, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r2.ArtifactsBucket), Key: aws.String("org1/molecules/m1.pdb")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(body) != "HETATM" || aws.ToString(obj.ContentType) != "chemical/x-pdb" || obj.Metadata["sha256"] != "abc" ||
		aws.ToString(obj.SSEKMSKeyId) != r2.KeyARN {
		t.Errorf("restored object %q %s %v %s", body, aws.ToString(obj.ContentType), obj.Metadata, aws.ToString(obj.SSEKMSKeyId))
	}
	if cur, prev := secret(t, c, o2.Names.JWTSecret(), ""), secret(t, c, o2.Names.JWTSecret(), "AWSPREVIOUS"); cur != rotated || prev != old {
		t.Errorf("JWT secret restored as current %s previous %s", cur, prev)
	}
	// Restored uploads must not be ingested again.
	if got := s3Records(t, c, r2.Queues["uploads"].URL, 2*time.Second); len(got) != 0 {
		t.Errorf("restoring uploads produced events %v", got)
	}
}
