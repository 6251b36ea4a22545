package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/routes"
)

// principal is one identity of the matrix.
type principal struct {
	name   string
	client func(tn *tenant) *Client // a client of this identity in org tn
	p      domain.Principal         // what the authorizer will build (roles, org)
}

// cell describes one request of the matrix: how to build it for a
// principal acting in org "own" against the resources of org "target",
// and the status when it is allowed.
type cell struct {
	method, path string
	body         func(t *testing.T, c *Client, own, target *tenant) any
	ok           int
	// notFound is the resource code when target is another org ("" when
	// the route names no resource of an org: it then acts in the caller's).
	notFound string
}

// matrixCells builds, for each route of the table, the request of the
// matrix. A route missing here fails the test: a new route cannot slip in
// without an authorization check.
func matrixCells(t *testing.T) map[string]cell {
	return map[string]cell{
		"POST /api/v1/auth/logout": {ok: 204},
		"GET /api/v1/me":           {ok: 200},
		"POST /api/v1/orgs": {ok: 201, body: func(t *testing.T, c *Client, own, target *tenant) any {
			return map[string]string{"name": uniq("Matrix Lab"), "admin_email": uniq("m") + "@x.example", "admin_password": userPassword}
		}},
		"GET /api/v1/orgs":            {ok: 200},
		"GET /api/v1/orgs/{org_id}":   {ok: 200},
		"PATCH /api/v1/orgs/{org_id}": {ok: 200, body: func(*testing.T, *Client, *tenant, *tenant) any { return map[string]any{"status": "active"} }},
		"POST /api/v1/users": {ok: 201, body: func(t *testing.T, c *Client, own, target *tenant) any {
			return map[string]any{"email": uniq("u") + "@x.example", "password": userPassword, "roles": []string{"viewer"}}
		}},
		"GET /api/v1/users":             {ok: 200},
		"GET /api/v1/users/{user_id}":   {ok: 200, notFound: "USER_NOT_FOUND"},
		"PATCH /api/v1/users/{user_id}": {ok: 200, notFound: "USER_NOT_FOUND", body: func(*testing.T, *Client, *tenant, *tenant) any { return map[string]any{"roles": []string{"viewer"}} }},
		"POST /api/v1/service-accounts": {ok: 201, body: func(*testing.T, *Client, *tenant, *tenant) any {
			return map[string]any{"name": "matrix robot", "roles": []string{"viewer"}}
		}},
		"GET /api/v1/service-accounts":                         {ok: 200},
		"DELETE /api/v1/service-accounts/{service_account_id}": {ok: 204, notFound: "SERVICE_ACCOUNT_NOT_FOUND"},
		"GET /api/v1/audit":                                    {ok: 200},
		"POST /api/v1/molecules": {ok: 201, body: func(t *testing.T, c *Client, own, target *tenant) any {
			return map[string]string{"name": "matrix ligand", "format": "smi", "content": "CCO ethanol\n"}
		}},
		"GET /api/v1/molecules": {ok: 200},
		"POST /api/v1/molecules/uploads": {ok: 201, body: func(*testing.T, *Client, *tenant, *tenant) any {
			return map[string]any{"name": "matrix upload", "format": "smi", "size_bytes": 12}
		}},
		"GET /api/v1/molecules/uploads/{upload_id}":    {ok: 200, notFound: "UPLOAD_NOT_FOUND"},
		"GET /api/v1/molecules/{molecule_id}":          {ok: 200, notFound: "MOLECULE_NOT_FOUND"},
		"GET /api/v1/molecules/{molecule_id}/download": {ok: 200, notFound: "MOLECULE_NOT_FOUND"},
		"DELETE /api/v1/molecules/{molecule_id}":       {ok: 204, notFound: "MOLECULE_NOT_FOUND"},
		"GET /api/v1/pipelines":                        {ok: 200},
		"POST /api/v1/pipelines": {ok: 201, body: func(*testing.T, *Client, *tenant, *tenant) any {
			return map[string]any{"name": uniq("matrix-pipeline"), "engine": "vina", "version": "1.0.0", "defaults": map[string]any{"exhaustiveness": 1}}
		}},
		"GET /api/v1/pipelines/{pipeline_id}": {ok: 200, notFound: "PIPELINE_NOT_FOUND"},
		// A cache hit: the caller's own molecules and the box of the
		// completed job, on the target org's pipeline.
		"POST /api/v1/pipelines/{pipeline_id}/jobs": {ok: 200, notFound: "PIPELINE_NOT_FOUND", body: func(t *testing.T, c *Client, own, target *tenant) any {
			return map[string]any{"inputs": map[string]string{"receptor": own.Receptor.ID, "ligand": own.Ligand.ID}, "params": box}
		}},
		"GET /api/v1/jobs":                           {ok: 200},
		"GET /api/v1/jobs/{job_id}":                  {ok: 200, notFound: "JOB_NOT_FOUND"},
		"GET /api/v1/jobs/{job_id}/status":           {ok: 200, notFound: "JOB_NOT_FOUND"},
		"GET /api/v1/jobs/{job_id}/results":          {ok: 200, notFound: "JOB_NOT_FOUND"},
		"GET /api/v1/jobs/{job_id}/events":           {ok: 200, notFound: "JOB_NOT_FOUND"},
		"GET /api/v1/jobs/{job_id}/files/{filename}": {ok: 302, notFound: "JOB_NOT_FOUND"},
		"GET /api/v1/jobs/{job_id}/logs":             {ok: 302, notFound: "JOB_NOT_FOUND"},
		// Cancelling the caller's own completed job: authorized, and a
		// CONFLICT because it is finished.
		"POST /api/v1/jobs/{job_id}/cancel": {ok: 409, notFound: "JOB_NOT_FOUND"},
		"GET /api/v1/artifacts/{uri+}":      {ok: 302, notFound: "ARTIFACT_NOT_FOUND"},
	}
}

// stepAuthorizationMatrix calls every protected route of the route table
// with a token of every role (viewer, standard, operator, admin, root with
// and without org, service account), against the resources of the caller's
// own org and of another org, and checks the contract's outcome of each
// cell: the route's success, 403 FORBIDDEN / ORG_FORBIDDEN, or the
// resource's 404 for another org's resources.
func stepAuthorizationMatrix(t *testing.T, c *Client) {
	cells := matrixCells(t)
	own, other := fixtures.orgs[0], fixtures.orgs[1]
	rootEmail, rootPassword := rootCreds()
	principals := []principal{
		{name: "viewer", client: func(tn *tenant) *Client { return tn.Viewer }, p: domain.Principal{SubjectID: "x", OrgID: own.OrgID, Roles: []domain.Role{domain.RoleViewer}}},
		{name: "standard", client: func(tn *tenant) *Client { return tn.Standard }, p: domain.Principal{SubjectID: "x", OrgID: own.OrgID, Roles: []domain.Role{domain.RoleStandard}}},
		{name: "operator", client: func(tn *tenant) *Client { return tn.Operator }, p: domain.Principal{SubjectID: "x", OrgID: own.OrgID, Roles: []domain.Role{domain.RoleOperator}}},
		{name: "admin", client: func(tn *tenant) *Client { return tn.Admin }, p: domain.Principal{SubjectID: "x", OrgID: own.OrgID, Roles: []domain.Role{domain.RoleAdmin}}},
		{name: "root in org", client: func(tn *tenant) *Client { return tn.Root }, p: domain.Principal{SubjectID: "x", OrgID: own.OrgID, Roles: []domain.Role{domain.RoleRoot}}},
		{name: "root without org", client: func(*tenant) *Client { return fixtures.root }, p: domain.Principal{SubjectID: "x", Roles: []domain.Role{domain.RoleRoot}}},
		{name: "service account", client: func(tn *tenant) *Client { return tn.Service }, p: domain.Principal{SubjectID: "x", OrgID: own.OrgID, Roles: []domain.Role{domain.RoleStandard}}},
	}
	checked := 0
	for _, r := range routes.Table {
		if r.Public {
			continue
		}
		if r.Permission == "" || !domain.KnownPermission(r.Permission) {
			t.Fatalf("route %s has no permission in the route table", r.Key())
		}
		cl, ok := cells[r.Key()]
		if !ok {
			t.Fatalf("route %s has no authorization-matrix case: add one to matrixCells", r.Key())
		}
		for _, pr := range principals {
			for _, target := range []*tenant{own, other} {
				foreign := target != own
				if foreign && cl.notFound == "" && !strings.Contains(r.Path, "{org_id}") {
					continue // the route names no resource: it acts in the caller's org either way
				}
				name := fmt.Sprintf("%s/%s/%s", r.Key(), pr.name, map[bool]string{false: "own org", true: "other org"}[foreign])
				t.Run(name, func(t *testing.T) {
					client := pr.client(own).For(t)
					if r.Key() == "POST /api/v1/auth/logout" {
						client = freshSession(t, c, pr.name, own, rootEmail, rootPassword)
					}
					path, body := buildRequest(t, c, r, cl, pr, client, own, target)
					resp := client.Do(r.Method, path, body, nil)
					checked++
					switch {
					case !pr.p.Can(r.Permission):
						resp.Error(403, "FORBIDDEN")
					case pr.p.OrgID == "" && !domain.OrgLessPermissions[r.Permission]:
						resp.Error(403, "ORG_FORBIDDEN")
					case foreign && cl.notFound != "" && !strings.Contains(r.Path, "{org_id}"):
						resp.Error(404, cl.notFound)
					default:
						resp.Status(cl.ok)
					}
				})
			}
		}
	}
	t.Logf("authorization matrix: %d cells checked", checked)
}

// freshSession logs the principal in again, so logout revokes a session of
// its own and not the one the rest of the run uses.
func freshSession(t *testing.T, c *Client, who string, own *tenant, rootEmail, rootPassword string) *Client {
	t.Helper()
	switch who {
	case "root in org":
		return login(t, c, rootEmail, rootPassword, own.OrgID)
	case "root without org":
		return login(t, c, rootEmail, rootPassword, "")
	case "service account":
		var sa struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		own.Admin.Do("POST", "/api/v1/service-accounts", map[string]any{"name": "logout robot", "roles": []string{"standard"}}, &sa).Status(201)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		c.WithToken("").Do("POST", "/api/v1/auth/token", map[string]string{"client_id": sa.ClientID, "client_secret": sa.ClientSecret}, &tok).Status(200)
		return c.WithToken(tok.AccessToken)
	}
	em := uniq(strings.ReplaceAll(who, " ", "-")) + "@lab.example"
	own.Admin.Do("POST", "/api/v1/users", map[string]any{"email": em, "password": userPassword, "roles": []string{who}}, nil).Status(201)
	return login(t, c, em, userPassword, "")
}

// buildRequest fills the route's path parameters with resources of target
// (fresh ones where the request would consume them) and its body.
func buildRequest(t *testing.T, c *Client, r routes.Route, cl cell, pr principal, client *Client, own, target *tenant) (string, any) {
	t.Helper()
	path := r.Path
	set := func(name, v string) { path = strings.Replace(path, "{"+name+"}", v, 1) }
	if strings.Contains(path, "{org_id}") {
		set("org_id", target.OrgID)
	}
	if strings.Contains(path, "{user_id}") {
		// A fresh viewer, so role changes never touch the fixtures.
		var u struct {
			UserID string `json:"user_id"`
		}
		target.Admin.Do("POST", "/api/v1/users", map[string]any{"email": uniq("target") + "@lab.example", "password": userPassword, "roles": []string{"viewer"}}, &u).Status(201)
		set("user_id", u.UserID)
	}
	if strings.Contains(path, "{service_account_id}") {
		var sa struct {
			ServiceAccountID string `json:"service_account_id"`
		}
		target.Admin.Do("POST", "/api/v1/service-accounts", map[string]any{"name": "target robot", "roles": []string{"viewer"}}, &sa).Status(201)
		set("service_account_id", sa.ServiceAccountID)
	}
	if strings.Contains(path, "{upload_id}") {
		set("upload_id", target.Upload)
	}
	if strings.Contains(path, "{molecule_id}") {
		mid := target.Receptor.ID
		if r.Method == "DELETE" {
			// Delete a molecule the caller itself uploaded (members may
			// delete their own); callers that cannot upload get one of the
			// admin's, which they may not delete either way.
			uploader := target.Admin
			if target == own && pr.p.Can(domain.PermMoleculeUpload) && pr.p.OrgID != "" {
				uploader = client
			}
			var m struct {
				MoleculeID string `json:"molecule_id"`
			}
			uploader.Do("POST", "/api/v1/molecules", map[string]string{"name": "to delete", "format": "smi", "content": "CCO\n"}, &m).Status(201)
			mid = m.MoleculeID
		}
		set("molecule_id", mid)
	}
	if strings.Contains(path, "{pipeline_id}") {
		set("pipeline_id", target.Pipeline)
	}
	if strings.Contains(path, "{job_id}") {
		jid := target.Job
		if strings.HasSuffix(r.Path, "/cancel") && target == own && pr.p.Can(domain.PermJobCreate) && pr.p.OrgID != "" {
			// The caller's own (cache-hit, so already finished) job.
			_, j := createJob(t, client, target.Pipeline, own.Receptor.ID, own.Ligand.ID, box, "")
			if j.JobID == "" {
				t.Fatal("could not create the caller's own job")
			}
			jid = j.JobID
		}
		set("job_id", jid)
	}
	if strings.Contains(path, "{filename}") {
		set("filename", "poses.sdf")
	}
	if strings.Contains(path, "{uri+}") {
		var res results
		target.Viewer.Do("GET", "/api/v1/jobs/"+target.Job+"/results", nil, &res).Status(200)
		set("uri+", url.PathEscape(res.Artifacts["poses_pdbqt"]))
	}
	var body any
	if cl.body != nil {
		body = cl.body(t, c, own, target)
	}
	return path, body
}

// stepPipelines gives each org a pipeline of its own (the matrix submits
// jobs to it) and checks that published versions are immutable.
func stepPipelines(t *testing.T, c *Client) {
	for _, tn := range fixtures.orgs {
		var p struct {
			PipelineID string `json:"pipeline_id"`
			BuiltIn    bool   `json:"built_in"`
		}
		name := uniq("screening")
		tn.Admin.Do("POST", "/api/v1/pipelines", map[string]any{"name": name, "engine": "vina", "version": "1.0.0",
			"defaults": map[string]any{"exhaustiveness": 1, "num_modes": 3}}, &p).Status(201)
		if p.BuiltIn {
			t.Fatal("an org pipeline reported as built in")
		}
		tn.Pipeline = p.PipelineID
		tn.Admin.Do("POST", "/api/v1/pipelines", map[string]any{"name": name, "engine": "vina", "version": "1.0.0"}, nil).Error(409, "CONFLICT")
		// The org's pipeline runs the same computation as the built-in one
		// for the same params; its first job docks, later ones hit the cache.
		resp, j := createJob(t, tn.Standard, tn.Pipeline, tn.Receptor.ID, tn.Ligand.ID, box, "")
		if resp.Code != 202 && resp.Code != 200 {
			t.Fatalf("job on org pipeline: %d %s", resp.Code, resp.Body)
		}
		if end := waitJob(t, tn.Viewer, j.JobID, 5*time.Minute); end.Status != "COMPLETED" {
			t.Fatalf("org pipeline job ended %+v", end)
		}
	}
	var list struct {
		Items []struct {
			PipelineID string `json:"pipeline_id"`
			BuiltIn    bool   `json:"built_in"`
		} `json:"items"`
	}
	fixtures.orgs[0].Viewer.Do("GET", "/api/v1/pipelines", nil, &list).Status(200)
	builtIn, mine, theirs := false, false, false
	for _, p := range list.Items {
		builtIn = builtIn || (p.PipelineID == builtinPipeline && p.BuiltIn)
		mine = mine || p.PipelineID == fixtures.orgs[0].Pipeline
		theirs = theirs || p.PipelineID == fixtures.orgs[1].Pipeline
	}
	if !builtIn || !mine || theirs {
		t.Fatalf("pipeline list: built-in %v, own %v, other org's %v", builtIn, mine, theirs)
	}
}
