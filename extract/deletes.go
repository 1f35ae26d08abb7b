package extract

import (
	"context"
	"iter"
	"time"
)

// Gone is a record a source reports no longer there: deleted, archived, or
// merged into another record (Into).
type Gone struct {
	ID   string
	At   time.Time // when it went; zero when the source cannot tell
	Into string
}

// Sweeper is a Source whose change feed does not show every delete
// (Intercom shows none; Salesforce's stops showing a delete once the
// recycle bin is emptied). Deletes are then found by comparing the ids of
// every live record with the ids ferry holds.
type Sweeper interface {
	Source
	// Sweepable reports whether this object's ids can be listed.
	Sweepable() bool
	// LiveIDs yields the id of every live record, page by page.
	LiveIDs(ctx context.Context) iter.Seq2[[]string, error]
	// Resolve looks up ids a sweep did not list (a record may be missing
	// from a list only because it changed while the list was paged) and
	// returns those that are gone.
	Resolve(ctx context.Context, ids []string) ([]Gone, error)
}

// DeleteLogger is a Source with a log of recent deletes (Salesforce's
// getDeleted): cheaper than a sweep, but it reaches back only so far.
type DeleteLogger interface {
	Source
	// DeleteLog returns the records deleted from start on and the time the
	// answer covers up to. complete is false when the log no longer
	// reaches back to start: deletes may have been missed, and only a
	// sweep finds them. Reach is how far back the log may be asked.
	DeleteLog(ctx context.Context, start, end time.Time) (gone []Gone, covered time.Time, complete bool, err error)
	DeleteLogReach() time.Duration
}
