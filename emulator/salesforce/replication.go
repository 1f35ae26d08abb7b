package salesforce

// Deletes as a replicating client sees them (API notes §3.5; SFDOC
// resources_getdeleted, sforce_api_calls_getdeleted):
//   - a delete moves the record to the recycle bin: queryAll still returns
//     it, with IsDeleted = true and SystemModstamp the delete's time;
//   - getDeleted (GET sobjects/{Type}/deleted/?start=&end=) lists the ids
//     deleted in a span of at most the last 15 days; the seconds of start
//     and end are ignored, and start must precede end by more than a
//     minute (INVALID_REPLICATION_DATE);
//   - emptying the recycle bin, or a Bulk hardDelete, deletes records
//     physically: no query returns them again, and getDeleted's
//     earliestDateAvailable moves up to the latest such delete, telling a
//     client whose start is earlier that it has lost deletes and must
//     compare id sets instead.

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// deleteLogDays is how far back getDeleted reaches.
const deleteLogDays = 15

// maxReplicationIDs is the most ids one getDeleted or getUpdated answers.
const maxReplicationIDs = 600_000

// parseReplicationDate reads a start or end parameter: ISO 8601 in UTC or
// with an offset, as clients send it.
func parseReplicationDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, sfTimeLayout, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// replication serves sobjects/{Type}/deleted and sobjects/{Type}/updated.
func (s *Server) replication(w http.ResponseWriter, r *http.Request, obj *objectMeta, kind string) {
	if r.Method != http.MethodGet {
		writeErr(w, 405, "METHOD_NOT_ALLOWED", "HTTP Method '"+r.Method+"' not allowed. Allowed are GET")
		return
	}
	q := r.URL.Query()
	var span [2]time.Time
	for i, name := range []string{"start", "end"} {
		v := q.Get(name)
		if v == "" {
			writeErr(w, 400, "MISSING_ARGUMENT", name+" is required")
			return
		}
		t, ok := parseReplicationDate(v)
		if !ok {
			writeErr(w, 400, "INVALID_REPLICATION_DATE", "Invalid date format for "+name+": "+v)
			return
		}
		span[i] = t.Truncate(time.Minute)
	}
	start, end := span[0], span[1]
	if end.Sub(start) <= time.Minute {
		writeErr(w, 400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate by more than one minute")
		return
	}
	s.org.mu.RLock()
	defer s.org.mu.RUnlock()
	now := s.org.now().UTC()
	days := deleteLogDays
	if kind == "updated" {
		days = 30
	}
	floor := now.Truncate(24*time.Hour).AddDate(0, 0, -days)
	if start.Before(floor) {
		writeErr(w, 400, "INVALID_REPLICATION_DATE", "startDate cannot be more than "+strconv.Itoa(days)+" days ago")
		return
	}
	covered := now.Truncate(time.Minute)
	if end.Before(covered) {
		covered = end
	}
	var out []map[string]any
	var ids []string
	for _, rec := range s.org.ordered[strings.ToLower(obj.Name)] {
		if rec.deleted() != (kind == "deleted") || rec.modTime.Before(start) || !rec.modTime.Before(covered) {
			continue
		}
		if kind == "deleted" {
			out = append(out, map[string]any{"id": rec.id, "deletedDate": rec.modTime.Format(sfTimeLayout)})
		} else {
			ids = append(ids, rec.id)
		}
		if len(out)+len(ids) > maxReplicationIDs {
			writeErr(w, 400, "EXCEEDED_ID_LIMIT", "record limit reached. narrow the time range")
			return
		}
	}
	if kind == "updated" {
		writeJSON(w, 200, map[string]any{"ids": append([]string{}, ids...), "latestDateCovered": covered.Format(sfTimeLayout)})
		return
	}
	earliest := floor
	if p, ok := s.org.purgedAt[strings.ToLower(obj.Name)]; ok && p.After(earliest) {
		earliest = p
	}
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, 200, map[string]any{"deletedRecords": out, "earliestDateAvailable": earliest.Format(sfTimeLayout), "latestDateCovered": covered.Format(sfTimeLayout)})
}

// purge deletes records of one object physically at the org's clock,
// journaled: a hard delete, or the recycle bin emptied.
func (o *org) purge(recs ...*record) {
	if len(recs) == 0 {
		return
	}
	at := o.stamp()
	for _, r := range recs {
		o.journal.Append(journalEntry{Obj: r.obj.Name, ID: r.id, Purged: &at})
		o.stats.record(r.obj.Name, "purged")
	}
	o.remove(recs[0].obj.Name, at, recs...)
}

// remove drops records of one object from the org and moves the object's
// delete log floor up to at.
func (o *org) remove(objName string, at time.Time, recs ...*record) {
	key := strings.ToLower(objName)
	gone := map[*record]bool{}
	for _, r := range recs {
		if r != nil && o.recs[key][r.id] == r {
			o.unindex(r)
			delete(o.recs[key], r.id)
			o.purged[r.id] = true
			gone[r] = true
		}
	}
	o.ordered[key] = slices.DeleteFunc(o.ordered[key], func(x *record) bool { return gone[x] })
	if at.After(o.purgedAt[key]) {
		o.purgedAt[key] = at
	}
}

// EmptyRecycleBin deletes every soft-deleted record of the named objects
// (all when none is named) physically, as an administrator emptying the
// recycle bin does. It returns how many records went.
func (s *Server) EmptyRecycleBin(objects ...string) int {
	o := s.org
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for key, list := range o.ordered {
		if len(objects) > 0 && !slices.ContainsFunc(objects, func(name string) bool { return strings.EqualFold(name, key) }) {
			continue
		}
		var bin []*record
		for _, r := range list {
			if r.deleted() {
				bin = append(bin, r)
			}
		}
		o.purge(bin...)
		n += len(bin)
	}
	return n
}
