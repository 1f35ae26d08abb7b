package salesforce

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/extract"
	"github.com/ferry-sync/ferry/internal/salesforceapi"
)

var (
	_ extract.Sweeper      = (*Source)(nil)
	_ extract.DeleteLogger = (*Source)(nil)
)

// Sweepable is true: every object's Ids can be queried.
func (s *Source) Sweepable() bool { return true }

// DeleteLogReach is how far back getDeleted is asked: its 15 days, less
// a day's margin (the 15 days count from the day of the call).
func (s *Source) DeleteLogReach() time.Duration { return 14 * 24 * time.Hour }

// DeleteLog asks getDeleted for the ids deleted in [start, end). The log
// is complete unless its earliestDateAvailable (the object's latest
// physical delete: the recycle bin emptied, a hard delete) is after
// start. A span of under two minutes is not asked (the API ignores seconds
// and wants more than a minute): it is covered up to start.
func (s *Source) DeleteLog(ctx context.Context, start, end time.Time) ([]extract.Gone, time.Time, bool, error) {
	start, end = start.UTC().Truncate(time.Minute), end.UTC().Truncate(time.Minute)
	if end.Sub(start) < 2*time.Minute {
		return nil, start, true, nil
	}
	res, err := s.Client.GetDeleted(ctx, s.Name, start, end)
	if err != nil {
		return nil, time.Time{}, false, err
	}
	gone := make([]extract.Gone, len(res.Records))
	for i, d := range res.Records {
		gone[i] = extract.Gone{ID: d.ID, At: d.DeletedDate}
	}
	covered := res.LatestDateCovered
	if covered.IsZero() || covered.After(end) {
		covered = end
	}
	return gone, covered, !res.EarliestDateAvailable.After(start), nil
}

// LiveIDs lists every live record's Id through one Bulk API 2.0 query job:
// a handful of API calls however large the object (REST paging would cost
// one call per 2,000 records). It is a queryAll of the records not
// deleted: a plain query leaves out archived activities (Tasks older than
// a year), which are not deleted. The job is deleted once read.
func (s *Source) LiveIDs(ctx context.Context) iter.Seq2[[]string, error] {
	return func(yield func([]string, error) bool) {
		job, err := s.Client.CreateQueryJob(ctx, "SELECT Id FROM "+s.Name+" WHERE IsDeleted = false", true)
		if err != nil {
			yield(nil, fmt.Errorf("%s ids: %w", s.Name, err))
			return
		}
		// Best effort: Salesforce deletes finished jobs after a week
		// anyway.
		defer s.Client.DeleteQueryJob(context.WithoutCancel(ctx), job.ID)
		if _, err := s.Client.WaitQueryJob(ctx, job.ID, time.Second); err != nil {
			yield(nil, fmt.Errorf("%s ids: %w", s.Name, err))
			return
		}
		for rows, err := range s.Client.QueryResults(ctx, job.ID, 0) {
			if err != nil {
				yield(nil, fmt.Errorf("%s ids: %w", s.Name, err))
				return
			}
			if len(rows) == 0 {
				continue
			}
			if len(rows[0]) != 1 || !strings.EqualFold(rows[0][0], "Id") {
				yield(nil, fmt.Errorf("%s ids: query job %s answered columns %v, not Id", s.Name, job.ID, rows[0]))
				return
			}
			ids := make([]string, 0, len(rows)-1)
			for _, r := range rows[1:] {
				ids = append(ids, r[0])
			}
			if !yield(ids, nil) {
				return
			}
		}
	}
}

// resolveChunk is how many ids one queryAll names (the URL stays short).
const resolveChunk = 200

// Resolve reads the named records with queryAll: one it returns live is
// not gone; one in the recycle bin went at its SystemModstamp; one it does
// not return was deleted for good.
func (s *Source) Resolve(ctx context.Context, ids []string) ([]extract.Gone, error) {
	var out []extract.Gone
	for start := 0; start < len(ids); start += resolveChunk {
		chunk := ids[start:min(start+resolveChunk, len(ids))]
		quoted := make([]string, len(chunk))
		for i, id := range chunk {
			quoted[i] = salesforceapi.Quote(id)
		}
		found := map[string]bool{}
		soql := fmt.Sprintf("SELECT Id, IsDeleted, SystemModstamp FROM %s WHERE Id IN (%s)", s.Name, strings.Join(quoted, ", "))
		for page, err := range s.Client.Query(ctx, soql, true, 2000, nil) {
			if err != nil {
				return nil, fmt.Errorf("%s: look up ids a sweep missed: %w", s.Name, err)
			}
			for _, r := range page {
				found[r.ID] = true
				if r.IsDeleted {
					out = append(out, extract.Gone{ID: r.ID, At: r.SystemModstamp})
				}
			}
		}
		for _, id := range chunk {
			if !found[id] {
				out = append(out, extract.Gone{ID: id})
			}
		}
	}
	return out, nil
}
