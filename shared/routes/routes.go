// Package routes is the single definition of the HTTP API's routes: method,
// path, the function that serves it, whether it is public, and the
// permission it needs. The CDK stack, the local gateway, the functions'
// dispatch and the OpenAPI test all read this table, so they cannot drift.
package routes

import (
	"strings"

	"github.com/mad-bio/mad/shared/domain"
)

// Function names: one Lambda each, built from functions/<name>.
const (
	FnAuthorizer = "authorizer"
	FnHealth     = "health"
	FnAuth       = "auth"
	FnAdmin      = "admin"
	FnMolecules  = "molecules"
	FnJobs       = "jobs"
	FnEngine     = "engine"
	FnIngest     = "ingest"
	FnDLQ        = "dlq"
	FnSweeper    = "sweeper"
	FnMigrate    = "migrate"
	FnRotate     = "rotate"
)

// APIFunctions serve HTTP routes.
var APIFunctions = []string{FnHealth, FnAuth, FnAdmin, FnMolecules, FnJobs}

// AllFunctions lists every function of the stack.
var AllFunctions = []string{FnAuthorizer, FnHealth, FnAuth, FnAdmin, FnMolecules,
	FnJobs, FnEngine, FnIngest, FnDLQ, FnSweeper, FnMigrate, FnRotate}

// Route is one entry of the table.
type Route struct {
	Method string
	// Path uses API Gateway syntax: {name} for one segment, {name+} greedy.
	Path     string
	Function string
	Public   bool
	// Permission is required for every non-public route; domain.PermSelf
	// stands for "any authenticated principal".
	Permission domain.Permission
	// MaxBody is the largest request body accepted; 0 means the default 1 MiB.
	MaxBody int64
}

// Key is the API Gateway route key: "METHOD /path".
func (r Route) Key() string { return r.Method + " " + r.Path }

// DefaultRouteKey is API Gateway's catch-all route; the health function
// answers it with ROUTE_NOT_FOUND or METHOD_NOT_ALLOWED in the contract's shape.
const DefaultRouteKey = "$default"

// DefaultMaxBody is the request body limit of the contract.
const DefaultMaxBody = 1 << 20

// MaxBodyFor returns the body limit of r.
func (r Route) MaxBodyFor() int64 {
	if r.MaxBody > 0 {
		return r.MaxBody
	}
	return DefaultMaxBody
}

// molecule content is up to 5 MiB; JSON wraps it (escapes, base64 in
// multipart), so the body limit leaves room and the use case checks the
// decoded content against the exact 5 MiB.
const moleculeBodyLimit = 8 << 20

// Table is the route table.
var Table = []Route{
	{Method: "GET", Path: "/health", Function: FnHealth, Public: true},
	{Method: "GET", Path: "/ready", Function: FnHealth, Public: true},
	{Method: "GET", Path: "/openapi.json", Function: FnHealth, Public: true},
	{Method: "GET", Path: "/.well-known/jwks.json", Function: FnHealth, Public: true},

	{Method: "POST", Path: "/api/v1/auth/token", Function: FnAuth, Public: true},
	{Method: "POST", Path: "/api/v1/auth/refresh", Function: FnAuth, Public: true},
	{Method: "POST", Path: "/api/v1/auth/logout", Function: FnAuth, Permission: domain.PermSelf},
	{Method: "GET", Path: "/api/v1/me", Function: FnAuth, Permission: domain.PermSelf},

	{Method: "POST", Path: "/api/v1/orgs", Function: FnAdmin, Permission: domain.PermOrgCreate},
	{Method: "GET", Path: "/api/v1/orgs", Function: FnAdmin, Permission: domain.PermOrgList},
	{Method: "GET", Path: "/api/v1/orgs/{org_id}", Function: FnAdmin, Permission: domain.PermOrgList},
	{Method: "PATCH", Path: "/api/v1/orgs/{org_id}", Function: FnAdmin, Permission: domain.PermOrgUpdate},

	{Method: "POST", Path: "/api/v1/users", Function: FnAdmin, Permission: domain.PermUserCreate},
	{Method: "GET", Path: "/api/v1/users", Function: FnAdmin, Permission: domain.PermUserList},
	{Method: "GET", Path: "/api/v1/users/{user_id}", Function: FnAdmin, Permission: domain.PermUserList},
	{Method: "PATCH", Path: "/api/v1/users/{user_id}", Function: FnAdmin, Permission: domain.PermUserUpdate},

	{Method: "POST", Path: "/api/v1/service-accounts", Function: FnAdmin, Permission: domain.PermServiceAccountManage},
	{Method: "GET", Path: "/api/v1/service-accounts", Function: FnAdmin, Permission: domain.PermServiceAccountManage},
	{Method: "DELETE", Path: "/api/v1/service-accounts/{service_account_id}", Function: FnAdmin, Permission: domain.PermServiceAccountManage},

	{Method: "GET", Path: "/api/v1/audit", Function: FnAdmin, Permission: domain.PermAuditView},

	{Method: "POST", Path: "/api/v1/molecules", Function: FnMolecules, Permission: domain.PermMoleculeUpload, MaxBody: moleculeBodyLimit},
	{Method: "GET", Path: "/api/v1/molecules", Function: FnMolecules, Permission: domain.PermMoleculeView},
	{Method: "POST", Path: "/api/v1/molecules/uploads", Function: FnMolecules, Permission: domain.PermMoleculeUpload},
	{Method: "GET", Path: "/api/v1/molecules/uploads/{upload_id}", Function: FnMolecules, Permission: domain.PermMoleculeView},
	{Method: "GET", Path: "/api/v1/molecules/{molecule_id}", Function: FnMolecules, Permission: domain.PermMoleculeView},
	{Method: "GET", Path: "/api/v1/molecules/{molecule_id}/download", Function: FnMolecules, Permission: domain.PermArtifactGet},
	{Method: "DELETE", Path: "/api/v1/molecules/{molecule_id}", Function: FnMolecules, Permission: domain.PermMoleculeDelete},

	{Method: "GET", Path: "/api/v1/pipelines", Function: FnJobs, Permission: domain.PermPipelineView},
	{Method: "POST", Path: "/api/v1/pipelines", Function: FnJobs, Permission: domain.PermPipelineCreate},
	{Method: "GET", Path: "/api/v1/pipelines/{pipeline_id}", Function: FnJobs, Permission: domain.PermPipelineView},
	{Method: "POST", Path: "/api/v1/pipelines/{pipeline_id}/jobs", Function: FnJobs, Permission: domain.PermJobCreate},

	{Method: "GET", Path: "/api/v1/jobs", Function: FnJobs, Permission: domain.PermJobView},
	{Method: "GET", Path: "/api/v1/jobs/{job_id}", Function: FnJobs, Permission: domain.PermJobView},
	{Method: "GET", Path: "/api/v1/jobs/{job_id}/status", Function: FnJobs, Permission: domain.PermJobView},
	{Method: "GET", Path: "/api/v1/jobs/{job_id}/results", Function: FnJobs, Permission: domain.PermJobResultsView},
	{Method: "GET", Path: "/api/v1/jobs/{job_id}/events", Function: FnJobs, Permission: domain.PermJobView},
	{Method: "GET", Path: "/api/v1/jobs/{job_id}/files/{filename}", Function: FnJobs, Permission: domain.PermArtifactGet},
	{Method: "GET", Path: "/api/v1/jobs/{job_id}/logs", Function: FnJobs, Permission: domain.PermArtifactGet},
	{Method: "POST", Path: "/api/v1/jobs/{job_id}/cancel", Function: FnJobs, Permission: domain.PermJobCancel},
	{Method: "GET", Path: "/api/v1/artifacts/{uri+}", Function: FnJobs, Permission: domain.PermArtifactGet},
}

// ByKey returns the route whose key is k.
func ByKey(k string) (Route, bool) {
	for _, r := range Table {
		if r.Key() == k {
			return r, true
		}
	}
	return Route{}, false
}

// ForFunction returns the routes one function serves.
func ForFunction(fn string) []Route {
	var out []Route
	for _, r := range Table {
		if r.Function == fn {
			out = append(out, r)
		}
	}
	return out
}

// Match finds the route for method and path the way API Gateway does:
// literal segments beat parameters, and a greedy {x+} takes the rest.
// It returns the route, the path parameters, and whether some route has
// the path under another method (for 405).
func Match(method, path string) (Route, map[string]string, bool, bool) {
	segs := splitPath(path)
	var best *Route
	var bestParams map[string]string
	bestScore := -1
	pathKnown := false
	for i := range Table {
		r := &Table[i]
		params, score, ok := matchPath(splitPath(r.Path), segs)
		if !ok {
			continue
		}
		pathKnown = true
		if r.Method != method {
			continue
		}
		if score > bestScore {
			best, bestParams, bestScore = r, params, score
		}
	}
	if best == nil {
		return Route{}, nil, false, pathKnown
	}
	return *best, bestParams, true, pathKnown
}

// splitPath keeps a trailing empty segment: API Gateway does not treat
// /jobs/ as /jobs, and neither does the local gateway.
func splitPath(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// matchPath scores literal segments higher than parameters so that
// /molecules/uploads/{id} beats /molecules/{id}/download-like patterns.
func matchPath(pattern, segs []string) (map[string]string, int, bool) {
	params := map[string]string{}
	score := 0
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}") {
			if i >= len(segs) {
				return nil, 0, false
			}
			params[p[1:len(p)-2]] = strings.Join(segs[i:], "/")
			return params, score, true
		}
		if i >= len(segs) {
			return nil, 0, false
		}
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return nil, 0, false
			}
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, 0, false
		}
		score += 1 << (len(pattern) - i)
	}
	if len(pattern) != len(segs) {
		return nil, 0, false
	}
	return params, score, true
}
