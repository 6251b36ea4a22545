package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// The seeds run as ordinary tests under `make test` (Postgres and moto);
// scripts/fuzz.sh explores from them.

// fzMultipart encodes parts (name, filename, content) with boundary.
func fzMultipart(boundary string, parts ...[3]string) []byte {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary(boundary); err != nil {
		panic(err)
	}
	for _, p := range parts {
		var pw io.Writer
		var err error
		if p[1] != "" {
			pw, err = w.CreateFormFile(p[0], p[1])
		} else {
			pw, err = w.CreateFormField(p[0])
		}
		if err != nil {
			panic(err)
		}
		_, _ = pw.Write([]byte(p[2]))
	}
	_ = w.Close()
	return buf.Bytes()
}

// fzMoleculeSeeds are bodies (content type, body) for POST /molecules.
func fzMoleculeSeeds(ligand []byte) [][2]string {
	j := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	mp := "multipart/form-data; boundary=fzb"
	return [][2]string{
		{"application/json", j(map[string]string{"name": "ethanol", "format": "smi", "content": "CCO ethanol\n"})},
		{"application/json", j(map[string]string{"name": "imatinib", "format": "pdbqt", "content": string(ligand)})},
		{"application/json", `{"name":"x","format":"xyz","content":"C"}`},
		{"application/json", `{"name":"x","format":"smi","content":""}`},
		{"application/json", `{"name":"x","format":"smi","content":"\u0000"}`},
		{"application/json", `{"name":"\u0041","format":"\u0073mi","content":"C\u0043O"}`},
		{"application/json", `{"name":"../../etc/passwd","format":"smi","content":"C"}`},
		{"application/json", `{"name":"x","format":"SMI","content":"C","owner":"me"}`},
		{"", `{"name":"x","format":"sdf","content":"not an sdf"}`},
		{"application/json", `{"content":7}`},
		{mp, string(fzMultipart("fzb", [3]string{"name", "", "ethanol"}, [3]string{"format", "", "smi"}, [3]string{"file", "e.smi", "CCO\n"}))},
		{mp, string(fzMultipart("fzb", [3]string{"file", "l.pdbqt", string(ligand)}, [3]string{"format", "", "pdbqt"}))},
		{mp, string(fzMultipart("fzb", [3]string{"file", "a.smi", "C"}, [3]string{"file", "b.smi", "C"}))},
		{mp, string(fzMultipart("fzb", [3]string{"name", "", "x"}))},
		{mp, string(fzMultipart("fzb", [3]string{"owner", "", "x"}, [3]string{"file", "a.smi", "C"}))},
		{mp, string(fzMultipart("fzb", [3]string{"name", "", strings.Repeat("n", 1025)}, [3]string{"file", "a.smi", "C"}))},
		{mp, "--fzb\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nC=3DO\r\n--fzb--\r\n"},
		{mp, string(fzMultipart("fzb", [3]string{strings.Repeat("d", 67), "", "x"}, [3]string{strings.Repeat("d", 67), "", "y"}))},
		{mp, string(fzMultipart("fzb", [3]string{strings.Repeat("l", 67), "", strings.Repeat("x", 1025)}))},
		{mp, "not multipart"},
		{mp, "--fzb--\r\n"},
		{"multipart/form-data", string(fzMultipart("fzb", [3]string{"file", "a.smi", "C"}))},
		{"multipart/form-data; boundary=", ""},
		{"multipart/form-data; boundary=\"a b\"", "--a b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nC\r\n--a b--\r\n"},
		{"multipart/mixed; boundary=fzb", string(fzMultipart("fzb", [3]string{"file", "a.smi", "C"}))},
		{"text/plain", "CCO"},
		{"chemical/x-mdl-sdfile", "x"},
		{"multipart/form-data; boundary=fzb; boundary=fzc", ""},
		{";", ""},
	}
}

// fzMoleculesSetup wires the molecules function over its real use cases
// (Postgres, S3 on moto) for a fuzz target: its mux and a standard user.
func fzMoleculesSetup(f *testing.F) (*apigw.Mux, apptest.Member) {
	f.Helper()
	obs.SetMetricsOutput(io.Discard)
	env := apptest.New(f, apptest.Options{})
	_, admin := env.NewOrg(f)
	u := env.NewUser(f, admin, domain.RoleStandard)
	mux := newMux(handler{molecules: env.Molecules}, apigw.NewMux(routes.FnMolecules, apptest.Quiet))
	return mux, u
}

// FuzzMoleculesBodies sends arbitrary bodies, content types and multipart
// boundaries to the POST routes of the molecules function (inline
// molecules as JSON or multipart/form-data, presigned uploads), through
// its real mux and use cases (Postgres, S3 on moto), as a standard user.
// A valid body stores a molecule or creates an upload; garbage gets a 4xx
// in the contract's shape, never a 5xx or a leak.
func FuzzMoleculesBodies(f *testing.F) {
	mux, u := fzMoleculesSetup(f)
	rts := []apitest.FuzzRoute{
		{Key: "POST /api/v1/molecules", Principal: &u.Principal},
		{Key: "POST /api/v1/molecules/uploads", Principal: &u.Principal},
	}
	apitest.RequireRoutes(f, rts...)
	ligand := apitest.Testdata(f, "1iep/1iep_ligand.pdbqt")
	for _, s := range fzMoleculeSeeds(ligand) {
		f.Add(uint8(0), s[0], false, []byte(s[1]))
	}
	f.Add(uint8(0), "multipart/form-data; boundary=fzb", true,
		fzMultipart("fzb", [3]string{"file", "a.smi", "CCO\n"}, [3]string{"name", "", "b64"}))
	for _, s := range []string{
		`{"name":"big","format":"pdbqt","size_bytes":1048576}`,
		`{"name":"big","format":"pdbqt","size_bytes":1048576,"run":{"receptor":"` + domain.NewID() + `","params":{"exhaustiveness":1}}}`,
		`{"name":"big","format":"pdbqt","size_bytes":1048576,"run":{"pipeline_id":"x","receptor":"r"}}`,
		`{"name":"big","format":"pdbqt","size_bytes":0}`, `{"name":"big","format":"pdbqt","size_bytes":-1}`,
		`{"name":"big","format":"pdbqt","size_bytes":9223372036854775807}`, `{"name":"big","format":"pdbqt","size_bytes":1e3}`,
		`{"name":"big","format":"pdbqt","size_bytes":1,"run":{"params":{"center":[1,2,3],"size":[1e308,1,1],"seed":0}}}`,
		`{"name":"big","format":"pdbqt","size_bytes":1,"run":null}`,
		`{"name":"\u0041","format":"\u0070dbqt","size_bytes":1,"run":{"pipeline_id":"\u0030","receptor":"\u0041"}}`, `{"name":"big","format":"pdbqt","size_bytes":1,"run":{"x":1}}`,
		`{}`, `null`, `[]`, `{}]`, `{"size_bytes":"1"}`,
	} {
		f.Add(uint8(1), "application/json", false, []byte(s))
	}

	f.Fuzz(func(t *testing.T, route uint8, ctype string, b64 bool, body []byte) {
		r := rts[int(route)%len(rts)]
		apitest.ServeFuzz(t, mux, apitest.FuzzEvent(r, ctype, b64, body), body)
	})
}

// FuzzMoleculesFields fills the fields of well-formed molecule bodies
// (JSON and multipart/form-data) and upload requests with arbitrary
// strings (control characters, NUL, invalid UTF-8, huge), so the use
// cases, the format validators, S3 and the database see values that
// raw-byte mutation rarely produces. Same assertions as
// FuzzMoleculesBodies.
func FuzzMoleculesFields(f *testing.F) {
	mux, u := fzMoleculesSetup(f)
	create := apitest.FuzzRoute{Key: "POST /api/v1/molecules", Principal: &u.Principal}
	upload := apitest.FuzzRoute{Key: "POST /api/v1/molecules/uploads", Principal: &u.Principal}
	j := func(v any) []byte { b, _ := json.Marshal(v); return b }
	forms := []struct {
		r    apitest.FuzzRoute
		body func(a, b, c string) (string, []byte)
	}{
		{create, func(a, b, c string) (string, []byte) {
			return "application/json", j(map[string]string{"name": a, "format": b, "content": c})
		}},
		{create, func(a, b, c string) (string, []byte) {
			return "multipart/form-data; boundary=fzb", fzMultipart("fzb", [3]string{"name", "", a}, [3]string{"format", "", b}, [3]string{"file", "f", c})
		}},
		{upload, func(a, b, c string) (string, []byte) {
			return "application/json", j(map[string]any{"name": a, "format": b, "size_bytes": 1024, "run": map[string]string{"receptor": c}})
		}},
		{upload, func(a, b, c string) (string, []byte) {
			return "application/json", j(map[string]any{"name": "up", "format": "pdbqt", "size_bytes": 1024, "run": map[string]string{"pipeline_id": a, "receptor": b}})
		}},
	}
	for i := range forms {
		for _, s := range [][3]string{{"ethanol", "smi", "CCO\n"}, {"x", "pdbqt", domain.NewID()}, {"", "", ""}, {"\x01", "\x01", "\x01"},
			{"a/b", "SDF", "\n\n\nM  END\n$$$$\n"}} {
			f.Add(uint8(i), s[0], s[1], s[2])
		}
	}
	f.Fuzz(func(t *testing.T, form uint8, a, b, c string) {
		fm := forms[int(form)%len(forms)]
		ctype, body := fm.body(a, b, c)
		apitest.ServeFuzz(t, mux, apitest.FuzzEvent(fm.r, ctype, false, body), body)
	})
}

// FuzzReadMultipart feeds boundaries and bodies to readMultipart: the
// result is an input with the file part, or VALIDATION_FAILED naming one
// non-empty field of bounded length, or PAYLOAD_TOO_LARGE; never parts over their
// limits. No services.
func FuzzReadMultipart(f *testing.F) {
	for _, s := range fzMoleculeSeeds([]byte("CCO\n")) {
		if strings.HasPrefix(s[0], "multipart/form-data; boundary=") {
			f.Add(strings.Trim(strings.TrimPrefix(s[0], "multipart/form-data; boundary="), `"`), []byte(s[1]))
		}
	}
	f.Add("", []byte("--\r\n"))
	f.Add(strings.Repeat("b", 70), fzMultipart(strings.Repeat("b", 70), [3]string{"file", "a", "C"}))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		in, err := readMultipart(body, boundary)
		if err == nil {
			if len(in.Content) > domain.MaxInlineMoleculeBytes || len(in.Name) > 1024 || len(in.Format) > 1024 {
				t.Fatalf("accepted oversized parts: %d %d %d", len(in.Content), len(in.Name), len(in.Format))
			}
			return
		}
		de, ok := domain.AsError(err)
		if !ok || (de.Code != domain.CodeValidation && de.Code != domain.CodePayloadTooLarge) {
			t.Fatalf("%q %q: %v", boundary, body, err)
		}
		for field, msg := range de.Fields {
			if len(de.Fields) != 1 || field == "" || utf8.RuneCountInString(field) > apitest.MaxFieldLen || len(msg) > 100 {
				t.Fatalf("%q %q: field %.100q message %.100q", boundary, body, field, msg)
			}
		}
	})
}

// FuzzMoleculesDecode decodes arbitrary bytes into each JSON body type of
// the molecules function with apigw.DecodeStrict: every refusal is
// VALIDATION_FAILED naming one field of bounded length. No services.
func FuzzMoleculesDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a","format":"smi","content":"C"}`, `{"name":"a","format":"pdbqt","size_bytes":5}`,
		`{"name":"a","format":"pdbqt","size_bytes":5,"run":{"pipeline_id":"p","receptor":"r","params":{"center":[1,2,3],"seed":1}}}`,
		`{"run":{"params":{"center":[1,2]}}}`, `{"run":{"params":{"num_modes":1.5}}}`, `{"size_bytes":1e400}`, `{"x":1}`, `{}]`, ``} {
		for k := range 2 {
			f.Add(uint8(k), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		var v any = new(createRequest)
		if kind%2 == 1 {
			v = new(createUploadRequest)
		}
		apitest.CheckDecodeErr(t, b, apigw.DecodeStrict(b, v))
	})
}
