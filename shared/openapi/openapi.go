// Package openapi holds the OpenAPI 3.1 description of MAD's HTTP API,
// served at GET /openapi.json. The document is maintained by hand against
// CONTRACT.md and the handlers' JSON structs; the package's tests keep it
// in step with the route table (shared/routes): every route documented,
// nothing else, with the same public/protected split and permissions.
package openapi

import _ "embed"

// Document is the OpenAPI 3.1 document (JSON).
//
//go:embed openapi.json
var Document []byte
