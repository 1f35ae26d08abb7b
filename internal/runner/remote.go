package runner

import (
	"context"
	"fmt"
)

// claimRemote, for a data dir on object storage, takes its lock and
// restores its committed state into the local copy (datadir.Claim).
func claimRemote(ctx context.Context, opt Options) (context.Context, func(), error) {
	if opt.Remote == nil {
		return ctx, func() {}, nil
	}
	ctx, release, err := opt.Remote.Claim(ctx, "ferry "+opt.Command)
	if err != nil {
		return ctx, nil, fmt.Errorf("refusing to start: %w", err)
	}
	return ctx, release, nil
}

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
