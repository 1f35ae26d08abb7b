// Package models embeds the SQL models analysts edit. `ferry transform
// --models-dir` points at a checkout instead, so both share one code path.
package models

import "embed"

// FS holds staging/, intermediate/ and marts/.
//
//go:embed staging intermediate marts
var FS embed.FS
