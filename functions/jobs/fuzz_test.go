package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// The seeds run as ordinary tests under `make test` (Postgres and moto);
// scripts/fuzz.sh explores from them.

// fzJobsSetup wires the jobs function over its real use cases (Postgres,
// S3 and SQS on moto) for a fuzz target: its mux, an org, its admin, a
// standard user of it, and mol, which stores a file of shared/testdata/1iep
// as the user's molecule.
func fzJobsSetup(f *testing.F) (mux *apigw.Mux, org domain.Org, admin, u apptest.Member, mol func(name, format, file string) domain.Molecule) {
	f.Helper()
	obs.SetMetricsOutput(io.Discard)
	env := apptest.New(f, apptest.Options{})
	org, admin = env.NewOrg(f)
	u = env.NewUser(f, admin, domain.RoleStandard)
	mol = func(name, format, file string) domain.Molecule {
		m, err := env.Molecules.CreateMolecule(context.Background(), u.Principal,
			app.NewMoleculeInput{Name: name, Format: format, Content: apitest.Testdata(f, "1iep/"+file)})
		if err != nil {
			f.Fatal(err)
		}
		return m
	}
	mux = newMux(handler{jobs: env.Jobs}, apigw.NewMux(routes.FnJobs, apptest.Quiet))
	return mux, org, admin, u, mol
}

// FuzzJobsBodies sends arbitrary bodies, content types, Idempotency-Key
// headers and ?use_cache= values to every POST route of the jobs function
// (pipelines as an org admin; jobs of the built-in pipeline and cancel as
// a standard user), through its real mux and use cases (Postgres, S3 and
// SQS on moto). A valid body creates a pipeline or queues a job (nothing
// runs it); garbage gets a 4xx in the contract's shape, never a 5xx or a
// leak.
func FuzzJobsBodies(f *testing.F) {
	mux, org, admin, u, mol := fzJobsSetup(f)
	receptor := mol("receptor", "pdbqt", "1iep_receptor.pdbqt")
	ligand := mol("ligand", "pdbqt", "1iep_ligand.pdbqt")
	sdf := mol("ligand sdf", "sdf", "1iep_ligand.sdf")
	rts := []apitest.FuzzRoute{
		{Key: "POST /api/v1/pipelines", Principal: &admin.Principal},
		{Key: "POST /api/v1/pipelines/{pipeline_id}/jobs", Params: map[string]string{"pipeline_id": domain.BuiltinPipelineID}, Principal: &u.Principal},
		{Key: "POST /api/v1/jobs/{job_id}/cancel", Params: map[string]string{"job_id": domain.NewID()}, Principal: &u.Principal},
	}
	// Seeds name this process's molecules by placeholder: the fuzzing
	// coordinator and its workers each run this setup, with their own
	// database, and share only the corpus.
	placeholders := strings.NewReplacer("$RECEPTOR", receptor.ID, "$LIGAND", ligand.ID, "$SDF", sdf.ID,
		"$URI", ligand.URI(), "$ORG", org.ID)
	const job = `{"inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND"},"params":{"center":[15.19,53.903,16.917],"size":[20,20,20],"exhaustiveness":1,"num_modes":3,"seed":42}}`
	seeds := [][]string{
		{`{"name":"vina-quick","engine":"vina","version":"1.2.3","defaults":{"exhaustiveness":4,"num_modes":5}}`,
			`{"name":"vina-quick","engine":"vina","version":"1.2.3-rc.1+b7","defaults":{}}`,
			`{"name":"vina","engine":"vina","version":"1"}`, `{"name":"\u0041","engine":"\u0076ina","version":"\u0031"}`, `{"name":"p","engine":"gnina","version":"1"}`,
			`{"name":"p","engine":"vina","version":"v1"}`, `{"name":"p","engine":"vina","version":"1","defaults":{"center":[1,2]}}`,
			`{"name":"p","engine":"vina","version":"1","defaults":{"exhaustiveness":0,"seed":0,"timeout_seconds":-1}}`,
			`{"name":"p","engine":"vina","version":"1","defaults":{"energy_range":1e308,"size":[1e308,1e308,1e308]}}`,
			`{"name":"p","engine":"vina","version":"1","defaults":{"num_modes":2147483648}}`,
			`{"name":"p","engine":"vina","version":"1","defaults":{"cpu":4}}`},
		{job, strings.Replace(job, `"seed":42`, `"seed":0`, 1), strings.Replace(job, "$LIGAND", "$SDF", 1),
			strings.Replace(job, "$LIGAND", "$URI", 1), strings.Replace(job, "$LIGAND", "$RECEPTOR", 1),
			strings.Replace(job, "$LIGAND", "mad://org/$ORG/molecules/$LIGAND.pdb", 1),
			strings.Replace(job, "$LIGAND", "mad://org/"+domain.NewID()+"/molecules/$LIGAND.pdbqt", 1),
			strings.Replace(job, "$RECEPTOR", domain.NewID(), 1), strings.Replace(job, "$RECEPTOR", "../../x", 1),
			`{"pipeline_version":"9.9.9","inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND"}}`,
			`{"inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND"},"params":{"center":[1,2,3],"size":[0,0,0]}}`,
			`{"inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND"},"params":{"center":[1e308,1,1],"size":[126,126,126],"exhaustiveness":1000}}`,
			`{"inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND"},"params":{"seed":9223372036854775807,"timeout_seconds":86400000}}`,
			`{"pipeline_version":"\u0031","inputs":{"receptor":"\u0041$RECEPTOR","ligand":"\u006dad://org/$ORG/molecules/$LIGAND.pdbqt"}}`,
			`{"inputs":{}}`, `{"inputs":null,"params":null}`, `{"inputs":{"receptor":1}}`, `{"inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND","extra":1}}`},
		{`{}`, ``, `{"reason":"x"}`},
	}
	common := []string{`{}`, `null`, `[]`, `"x"`, `{"name":`, `{} {}`, `{}]`, `{"unknown":1}`, strings.Repeat("[", 1000)}
	apitest.RequireRoutes(f, rts...)
	for i := range rts {
		for _, s := range append(seeds[i], common...) {
			f.Add(uint8(i), "application/json", false, []byte(s), "", "")
		}
		f.Add(uint8(i), "text/plain", false, []byte(`{}`), "", "")
		f.Add(uint8(i), "application/json", true, []byte(`{"name":"x"}`), "", "")
		f.Add(uint8(i), "", false, []byte("\xff{}"), "", "")
	}
	for _, k := range []string{domain.NewID(), "k", strings.Repeat("k", 255), strings.Repeat("k", 256), "a b", "\x00", "ключ", "\x7f"} {
		f.Add(uint8(1), "application/json", false, []byte(job), k, "")
	}
	for _, c := range []string{"true", "false", "TRUE", "1", "maybe", "\x00"} {
		f.Add(uint8(1), "application/json", false, []byte(job), "", c)
	}

	f.Fuzz(func(t *testing.T, route uint8, ctype string, b64 bool, body []byte, idemKey, useCache string) {
		r := rts[int(route)%len(rts)]
		body = []byte(placeholders.Replace(string(body)))
		ev := apitest.FuzzEvent(r, ctype, b64, body)
		if idemKey != "" {
			ev.Headers["idempotency-key"] = idemKey
		}
		if useCache != "" {
			ev.QueryStringParameters = map[string]string{"use_cache": useCache}
		}
		apitest.ServeFuzz(t, mux, ev, body)
	})
}

// FuzzJobsFields fills the string fields of well-formed pipeline and job
// requests (and the Idempotency-Key header and ?use_cache=) with
// arbitrary strings (control characters, NUL, invalid UTF-8, huge), so
// the use cases and the database see values that raw-byte mutation of
// JSON rarely produces. Same assertions as FuzzJobsBodies.
func FuzzJobsFields(f *testing.F) {
	mux, _, admin, u, mol := fzJobsSetup(f)
	ligand := mol("l", "pdbqt", "1iep_ligand.pdbqt")
	pipelines := apitest.FuzzRoute{Key: "POST /api/v1/pipelines", Principal: &admin.Principal}
	jobs := apitest.FuzzRoute{Key: "POST /api/v1/pipelines/{pipeline_id}/jobs", Params: map[string]string{"pipeline_id": domain.BuiltinPipelineID}, Principal: &u.Principal}
	params := map[string]any{"center": []float64{15.19, 53.903, 16.917}, "size": []int{20, 20, 20}, "exhaustiveness": 1}
	forms := []struct {
		r    apitest.FuzzRoute
		body func(a, b, c string) any
	}{
		{pipelines, func(a, b, c string) any { return map[string]any{"name": a, "engine": b, "version": c} }},
		{jobs, func(a, b, c string) any {
			return map[string]any{"pipeline_version": a, "inputs": map[string]string{"receptor": b, "ligand": c}, "params": params}
		}},
		{jobs, nil}, // a valid job; a and b are the Idempotency-Key and ?use_cache=
	}
	for i := range forms {
		for _, s := range [][3]string{{"vina-x", "vina", "1.0.0"}, {"", "$LIGAND", "$LIGAND"}, {domain.NewID(), "true", ""},
			{"", "", ""}, {"\x01", "\x01", "\x01"}} {
			f.Add(uint8(i), s[0], s[1], s[2])
		}
	}
	f.Fuzz(func(t *testing.T, form uint8, a, b, c string) {
		fm := forms[int(form)%len(forms)]
		var v any
		if fm.body != nil {
			v = fm.body(strings.ReplaceAll(a, "$LIGAND", ligand.ID), strings.ReplaceAll(b, "$LIGAND", ligand.ID),
				strings.ReplaceAll(c, "$LIGAND", ligand.ID))
		} else {
			v = map[string]any{"inputs": map[string]string{"receptor": ligand.ID, "ligand": ligand.ID}, "params": params}
		}
		body, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		ev := apitest.FuzzEvent(fm.r, "application/json", false, body)
		if fm.body == nil {
			ev.Headers["idempotency-key"] = a
			ev.QueryStringParameters = map[string]string{"use_cache": b}
		}
		apitest.ServeFuzz(t, mux, ev, body)
	})
}

// FuzzJobsDecode decodes arbitrary bytes into each body type of the jobs
// function with apigw.DecodeStrict: every refusal is VALIDATION_FAILED
// naming one field of bounded length. No services.
func FuzzJobsDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a","engine":"vina","version":"1","defaults":{"center":[1,2,3]}}`,
		`{"pipeline_version":"1","inputs":{"receptor":"r","ligand":"l"},"params":{"seed":1,"energy_range":3.5}}`,
		`{"params":{"center":[1,2,3,4]}}`, `{"params":{"size":"big"}}`, `{"defaults":{"exhaustiveness":1e10}}`,
		`{"inputs":{"receptor":[]}}`, `{"x":1}`, `{}]`, ``} {
		for k := range 2 {
			f.Add(uint8(k), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		var v any = new(createPipelineRequest)
		if kind%2 == 1 {
			v = new(createJobRequest)
		}
		apitest.CheckDecodeErr(t, b, apigw.DecodeStrict(b, v))
	})
}
