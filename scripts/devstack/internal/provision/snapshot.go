package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mad-bio/mad/scripts/devstack/internal/awsx"
	"github.com/mad-bio/mad/scripts/devstack/internal/state"
	"github.com/mad-bio/mad/shared/stack"
)

// Snapshot is what survives a restart of the in-memory AWS endpoint: the
// current version of every object of the two buckets (with content type
// and metadata) and the stage's secrets (current and previous values).
// Not kept: SQS messages, object versions other than the latest, KMS keys
// (re-created; objects are re-encrypted under the new key on restore).
type Snapshot struct {
	Objects []Object `json:"objects"`
	Secrets []Secret `json:"secrets"`
}

// Object is one stored S3 object.
type Object struct {
	Bucket      string            `json:"bucket"` // "artifacts" or "uploads"
	Key         string            `json:"key"`
	File        string            `json:"file"` // under objects/
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// Secret is one stored secret; Name is relative to "mad/<stage>/".
type Secret struct {
	Name     string `json:"name"`
	Current  string `json:"current"`
	Previous string `json:"previous,omitempty"`
}

const manifest = "manifest.json"

func secretPrefix(n stack.Names) string { return "mad/" + n.Stage + "/" }

// derived secrets are rewritten from the local configuration on every
// start, so they are never restored.
func derived(n stack.Names, name string) bool {
	return name == n.DBAppSecret() || name == n.DBAdminSecret() || name == n.RootSecret()
}

// TakeSnapshot writes the snapshot of r into dir, replacing it atomically.
func TakeSnapshot(ctx context.Context, c *awsx.Clients, r *Resources, dir string) (*Snapshot, error) {
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "objects"), 0o700); err != nil {
		return nil, err
	}
	snap := &Snapshot{Objects: []Object{}, Secrets: []Secret{}}
	for kind, bucket := range map[string]string{"artifacts": r.ArtifactsBucket, "uploads": r.UploadsBucket} {
		p := s3.NewListObjectsV2Paginator(c.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", bucket, err)
			}
			for _, o := range page.Contents {
				key := aws.ToString(o.Key)
				obj, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
				if err != nil {
					return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
				}
				sum := sha256.Sum256([]byte(kind + "/" + key))
				file := hex.EncodeToString(sum[:])
				f, err := os.OpenFile(filepath.Join(tmp, "objects", file), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
				if err != nil {
					obj.Body.Close()
					return nil, err
				}
				_, err = io.Copy(f, obj.Body)
				obj.Body.Close()
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return nil, fmt.Errorf("save s3://%s/%s: %w", bucket, key, err)
				}
				snap.Objects = append(snap.Objects, Object{Bucket: kind, Key: key, File: file,
					ContentType: aws.ToString(obj.ContentType), Metadata: obj.Metadata})
			}
		}
	}
	prefix := secretPrefix(r.Names)
	p := secretsmanager.NewListSecretsPaginator(c.Secrets, &secretsmanager.ListSecretsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list secrets: %w", err)
		}
		for _, s := range page.SecretList {
			name := aws.ToString(s.Name)
			if !strings.HasPrefix(name, prefix) || derived(r.Names, name) {
				continue
			}
			cur, err := c.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
			var nf *smtypes.ResourceNotFoundException
			if errors.As(err, &nf) {
				continue // no current value (deleted, or a broken rotation): nothing to keep
			}
			if err != nil {
				return nil, fmt.Errorf("get secret %s: %w", name, err)
			}
			sec := Secret{Name: strings.TrimPrefix(name, prefix), Current: aws.ToString(cur.SecretString)}
			prev, err := c.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String("AWSPREVIOUS")})
			if err == nil {
				sec.Previous = aws.ToString(prev.SecretString)
			}
			snap.Secrets = append(snap.Secrets, sec)
		}
	}
	if err := state.WriteJSON(filepath.Join(tmp, manifest), snap, 0o600); err != nil {
		return nil, err
	}
	_ = os.RemoveAll(dir + ".old")
	if err := os.Rename(dir, dir+".old"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	_ = os.RemoveAll(dir + ".old")
	return snap, nil
}

// ReadSnapshot reads dir's snapshot; a missing one is nil, not an error.
func ReadSnapshot(dir string) (*Snapshot, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, manifest), err)
	}
	return &s, nil
}

// restoreSecrets recreates the snapshot's secrets that do not exist
// (previous value first, so the stages come back as they were).
func restoreSecrets(ctx context.Context, c *secretsmanager.Client, n stack.Names, snap *Snapshot, keyARN string) (int, error) {
	restored := 0
	for _, s := range snap.Secrets {
		name := secretPrefix(n) + s.Name
		if derived(n, name) {
			continue
		}
		_, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		if err == nil {
			continue
		}
		var nf *smtypes.ResourceNotFoundException
		if !errors.As(err, &nf) {
			return restored, fmt.Errorf("describe secret %s: %w", name, err)
		}
		first := s.Current
		if s.Previous != "" {
			first = s.Previous
		}
		if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(first), KmsKeyId: aws.String(keyARN)}); err != nil {
			return restored, fmt.Errorf("restore secret %s: %w", name, err)
		}
		if s.Previous != "" {
			if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(s.Current)}); err != nil {
				return restored, fmt.Errorf("restore secret %s: %w", name, err)
			}
		}
		restored++
	}
	return restored, nil
}

func restoreObjects(ctx context.Context, c *s3.Client, r *Resources, dir string, snap *Snapshot) (int, error) {
	return putObjects(ctx, c, r, dir, snap, false)
}

// putObjects writes the snapshot's objects, skipping existing keys unless
// overwrite is set.
func putObjects(ctx context.Context, c *s3.Client, r *Resources, dir string, snap *Snapshot, overwrite bool) (int, error) {
	restored := 0
	for _, o := range snap.Objects {
		bucket := r.ArtifactsBucket
		if o.Bucket == "uploads" {
			bucket = r.UploadsBucket
		}
		if !overwrite {
			if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.Key)}); err == nil {
				continue
			}
		}
		f, err := os.Open(filepath.Join(dir, "objects", o.File))
		if err != nil {
			return restored, fmt.Errorf("restore s3://%s/%s: %w", bucket, o.Key, err)
		}
		in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.Key), Body: f, Metadata: o.Metadata}
		if o.ContentType != "" {
			in.ContentType = aws.String(o.ContentType)
		}
		_, err = c.PutObject(ctx, in)
		f.Close()
		if err != nil {
			return restored, fmt.Errorf("restore s3://%s/%s: %w", bucket, o.Key, err)
		}
		restored++
	}
	return restored, nil
}

// RestoreBackup writes a snapshot taken by TakeSnapshot back into a running
// stack, replacing objects and secret values that exist (devstack restore).
// Restored uploads raise ObjectCreated events again; ingest acknowledges
// uploads it already completed.
func RestoreBackup(ctx context.Context, c *awsx.Clients, r *Resources, dir string) (objects, secrets int, err error) {
	snap, err := ReadSnapshot(dir)
	if err != nil {
		return 0, 0, err
	}
	if snap == nil {
		return 0, 0, fmt.Errorf("%s holds no snapshot (%s missing)", dir, manifest)
	}
	if objects, err = putObjects(ctx, c.S3, r, dir, snap, true); err != nil {
		return objects, 0, err
	}
	for _, s := range snap.Secrets {
		name := secretPrefix(r.Names) + s.Name
		if derived(r.Names, name) {
			continue
		}
		cur, err := c.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		if err == nil && aws.ToString(cur.SecretString) == s.Current {
			continue
		}
		if err != nil {
			var nf *smtypes.ResourceNotFoundException
			if !errors.As(err, &nf) {
				return objects, secrets, fmt.Errorf("get secret %s: %w", name, err)
			}
			if _, err := c.Secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(s.Current), KmsKeyId: aws.String(r.KeyARN)}); err != nil {
				return objects, secrets, fmt.Errorf("restore secret %s: %w", name, err)
			}
		} else if _, err := c.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(s.Current)}); err != nil {
			return objects, secrets, fmt.Errorf("restore secret %s: %w", name, err)
		}
		secrets++
	}
	return objects, secrets, nil
}
