package apitest

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// PutUpload sends content with a presigned upload request (method, URL
// and the headers the API listed), as a client does: exactly the listed
// headers, Content-Length from the content itself. It fails unless the
// store answers 200 and returns the object's ETag, unquoted.
func PutUpload(t testing.TB, method, url string, headers map[string]string, content []byte) string {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if !strings.EqualFold(k, "content-length") {
			req.Header.Set(k, v)
		}
	}
	req.ContentLength = int64(len(content))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT upload = %d", resp.StatusCode)
	}
	return strings.Trim(resp.Header.Get("ETag"), `"`)
}
