package sqsqueue

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/mad-bio/mad/shared/app"
)

// Body size limits of the decoders. A job message is two ids; an S3 event
// fits in one SQS message (at most 256 KiB).
const (
	MaxJobMessageBytes = 4 << 10
	MaxS3EventBytes    = 256 << 10
)

// DecodeJobMessage parses a jobs-queue body: exactly one JSON object with
// the string fields "job_id" and "org_id", each once, each a canonical
// (lowercase) UUID, nothing else, nothing after it, at most
// MaxJobMessageBytes. Errors wrap ErrMalformed.
func DecodeJobMessage(body string) (app.JobMessage, error) {
	m, err := decodeJobMessage(body)
	if err != nil {
		return app.JobMessage{}, fmt.Errorf("decode job message: %w: %w", ErrMalformed, err)
	}
	return m, nil
}

func decodeJobMessage(body string) (app.JobMessage, error) {
	if len(body) > MaxJobMessageBytes {
		return app.JobMessage{}, fmt.Errorf("body is %d bytes, more than %d", len(body), MaxJobMessageBytes)
	}
	// A token walk rather than json.Unmarshal: it refuses unknown fields,
	// duplicate fields (which Unmarshal would resolve silently, last one
	// wins), non-string values and trailing data, all in one pass.
	dec := json.NewDecoder(strings.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return app.JobMessage{}, errors.New("not a JSON object")
	}
	var m app.JobMessage
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return app.JobMessage{}, err
		}
		name, _ := tok.(string)
		if name != "job_id" && name != "org_id" {
			return app.JobMessage{}, fmt.Errorf("unknown field %q", name)
		}
		if seen[name] {
			return app.JobMessage{}, fmt.Errorf("duplicate field %q", name)
		}
		seen[name] = true
		tok, err = dec.Token()
		if err != nil {
			return app.JobMessage{}, err
		}
		v, ok := tok.(string)
		if !ok {
			return app.JobMessage{}, fmt.Errorf("field %q must be a string", name)
		}
		if !canonicalID(v) {
			return app.JobMessage{}, fmt.Errorf("field %q must be a canonical UUID", name)
		}
		if name == "job_id" {
			m.JobID = v
		} else {
			m.OrgID = v
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return app.JobMessage{}, errors.New("malformed JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return app.JobMessage{}, errors.New("data after the JSON object")
	}
	if m.JobID == "" || m.OrgID == "" {
		return app.JobMessage{}, errors.New(`both "job_id" and "org_id" are required`)
	}
	return m, nil
}

// S3Object is one object named by an S3 event notification.
type S3Object struct {
	EventName string // "ObjectCreated:Put", "ObjectCreated:CompleteMultipartUpload", ...
	Bucket    string
	Key       string // URL-decoded: the object's real key
	Size      int64
	ETag      string
}

// s3Event is the part of an S3 event notification the decoder reads; the
// notification carries many more fields, which are ignored.
type s3Event struct {
	Records *[]struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		S3          struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				Size *int64 `json:"size"`
				ETag string `json:"eTag"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	// The test event S3 sends when notifications are configured:
	// {"Service":"Amazon S3","Event":"s3:TestEvent","Time":...,"Bucket":...}.
	Event   string `json:"Event"`
	Service string `json:"Service"`
}

// DecodeS3Event parses an S3 event notification delivered to SQS and
// returns the objects it reports created, keys URL-decoded ('+' is a
// space, as S3 encodes them). The s3:TestEvent S3 sends when a
// notification is configured yields no objects and no error; so do
// records of other event types (the uploads queue is subscribed to
// ObjectCreated only). A body over MaxS3EventBytes, malformed JSON, a
// message that is neither records nor the test event, or a created-object
// record without source "aws:s3", bucket, decodable key or size is an
// error wrapping ErrMalformed.
func DecodeS3Event(body string) ([]S3Object, error) {
	objs, err := decodeS3Event(body)
	if err != nil {
		return nil, fmt.Errorf("decode S3 event: %w: %w", ErrMalformed, err)
	}
	return objs, nil
}

func decodeS3Event(body string) ([]S3Object, error) {
	if len(body) > MaxS3EventBytes {
		return nil, fmt.Errorf("body is %d bytes, more than %d", len(body), MaxS3EventBytes)
	}
	var ev s3Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return nil, err
	}
	if ev.Records == nil {
		if ev.Event == "s3:TestEvent" {
			return nil, nil
		}
		return nil, errors.New("neither S3 event records nor an s3:TestEvent")
	}
	if len(*ev.Records) == 0 {
		return nil, errors.New("no records")
	}
	var objs []S3Object
	for i, r := range *ev.Records {
		if r.EventSource != "aws:s3" {
			return nil, fmt.Errorf("record %d: event source %q, want aws:s3", i, r.EventSource)
		}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			continue
		}
		o := r.S3.Object
		if r.S3.Bucket.Name == "" {
			return nil, fmt.Errorf("record %d: no bucket name", i)
		}
		key, err := url.QueryUnescape(o.Key)
		if err != nil {
			return nil, fmt.Errorf("record %d: key: %w", i, err)
		}
		if key == "" {
			return nil, fmt.Errorf("record %d: no object key", i)
		}
		if o.Size == nil || *o.Size < 0 {
			return nil, fmt.Errorf("record %d: no object size", i)
		}
		objs = append(objs, S3Object{
			EventName: r.EventName,
			Bucket:    r.S3.Bucket.Name,
			Key:       key,
			Size:      *o.Size,
			ETag:      o.ETag,
		})
	}
	return objs, nil
}
