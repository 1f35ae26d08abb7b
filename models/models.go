// Package models embeds the SQL models analysts edit. `ferry transform
// --models-dir` points at a checkout instead, so both share one code path.
package models

import "embed"

// FS holds staging/, intermediate/ and marts/, and syncs/: the sync
// declarations of the shipped workflows that are models plus syncs.
//
//go:embed staging intermediate marts syncs tests
var FS embed.FS
