package salesforceapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Deleted is one entry of getDeleted's deletedRecords.
type Deleted struct {
	ID          string
	DeletedDate time.Time
}

// DeletedResult is getDeleted's answer.
type DeletedResult struct {
	Records []Deleted
	// EarliestDateAvailable is the time of the object's latest physical
	// delete: the log holds nothing older, so a start before it may have
	// missed deletes.
	EarliestDateAvailable time.Time
	// LatestDateCovered is where the next call should start.
	LatestDateCovered time.Time
}

// GetDeleted calls GET sobjects/{object}/deleted/?start=&end= (API notes
// §3.5): the ids deleted in [start, end). Salesforce ignores the seconds
// of both and wants start before end by more than a minute.
func (c *Client) GetDeleted(ctx context.Context, object string, start, end time.Time) (DeletedResult, error) {
	q := url.Values{}
	q.Set("start", start.UTC().Format("2006-01-02T15:04:05Z"))
	q.Set("end", end.UTC().Format("2006-01-02T15:04:05Z"))
	var raw struct {
		DeletedRecords []struct {
			ID          string `json:"id"`
			DeletedDate string `json:"deletedDate"`
		} `json:"deletedRecords"`
		EarliestDateAvailable string `json:"earliestDateAvailable"`
		LatestDateCovered     string `json:"latestDateCovered"`
	}
	if _, err := c.doJSON(ctx, http.MethodGet, "sobjects/"+url.PathEscape(object)+"/deleted/", q, nil, &raw, false); err != nil {
		return DeletedResult{}, fmt.Errorf("deleted %s: %w", object, err)
	}
	var out DeletedResult
	var err error
	if out.EarliestDateAvailable, err = ParseTime(raw.EarliestDateAvailable); err != nil {
		return out, fmt.Errorf("deleted %s: earliestDateAvailable %q: %w", object, raw.EarliestDateAvailable, err)
	}
	if out.LatestDateCovered, err = ParseTime(raw.LatestDateCovered); err != nil {
		return out, fmt.Errorf("deleted %s: latestDateCovered %q: %w", object, raw.LatestDateCovered, err)
	}
	for _, d := range raw.DeletedRecords {
		at, err := ParseTime(d.DeletedDate)
		if err != nil || d.ID == "" {
			return out, fmt.Errorf("deleted %s: record %q: deletedDate %q is not a date", object, d.ID, d.DeletedDate)
		}
		out.Records = append(out.Records, Deleted{ID: d.ID, DeletedDate: at})
	}
	return out, nil
}
