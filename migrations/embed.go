// Package migrations embeds the numbered SQL migrations into every binary
// that needs them (the migrate function, the local stack, tests).
package migrations

import "embed"

// FS holds the migrations, named NNNN_description.sql and applied in order.
//
//go:embed *.sql
var FS embed.FS
