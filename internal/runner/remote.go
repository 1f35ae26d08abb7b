package runner

import (
	"context"
	"fmt"
)

// save commits the data dir to object storage (nothing on local disk):
// DuckDB folds its write-ahead log into the file, which is then uploaded
// with the files the bucket lacks. final marks the local copy as the
// committed state.
func (r *run) save(ctx context.Context, final bool) error {
	if r.opt.Remote == nil {
		return nil
	}
	if final {
		// A run stopped by a signal saves what it committed, as it
		// would keep it on local disk.
		ctx = context.WithoutCancel(ctx)
	}
	if _, err := r.st.DB.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint before saving: %w", err)
	}
	return r.opt.Remote.Save(ctx, r.id, final)
}
