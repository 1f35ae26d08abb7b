package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/ferry-sync/ferry/emulator/intercom"
	"github.com/ferry-sync/ferry/emulator/salesforce"
)

// The bench talks to the emulators the way any client would: through their
// public HTTP APIs, so that an edit moves the same stamps (SystemModstamp,
// updated_at) a real one does. Its own requests are left out of ferry's
// counts by reading the counters just before and after each ferry run.

// sfVersion is the Salesforce REST version the bench's own requests use.
const sfVersion = "v62.0"

// emuStats is the part of an emulator's /_emulator/stats the bench reads.
type emuStats struct {
	Total   int                       `json:"total_requests"`
	Records map[string]map[string]int `json:"records"` // kind or object -> what -> count
}

// touched is how many writes a kind of record has had, of any sort.
func (s *emuStats) touched(kind string) int {
	n := 0
	for _, v := range s.Records[kind] {
		n += v
	}
	return n
}

// stats reads an emulator's counters; that request is not counted.
func stats(base string) (*emuStats, error) {
	resp, err := http.Get(base + "/_emulator/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s emuStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("%s stats: %w", base, err)
	}
	return &s, nil
}

// do sends one request with a JSON body (nil for none) and decodes a JSON
// answer into out (nil to discard it), failing on any status above 299.
func do(method, u string, header http.Header, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return err
	}
	req.Header = header.Clone()
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, b)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// sfClient is a minimal Salesforce REST client for the bench's own edits.
type sfClient struct {
	base   string
	header http.Header
}

// newSF signs in with the emulator's client credentials.
func newSF(base string) (*sfClient, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {salesforce.ClientID}, "client_secret": {salesforce.ClientSecret}}
	resp, err := http.PostForm(base+"/services/oauth2/token", form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("salesforce token: %s %v", resp.Status, err)
	}
	return &sfClient{base: base, header: http.Header{"Authorization": {"Bearer " + tok.AccessToken}}}, nil
}

// query runs a SOQL query and calls fn for each row, following
// nextRecordsUrl, so that only one page is held at a time.
func (c *sfClient) query(soql string, fn func(row map[string]any)) error {
	next := "/services/data/" + sfVersion + "/query?q=" + url.QueryEscape(soql)
	for next != "" {
		var page struct {
			Records        []map[string]any `json:"records"`
			NextRecordsURL string           `json:"nextRecordsUrl"`
		}
		if err := do(http.MethodGet, c.base+next, c.header, nil, &page); err != nil {
			return err
		}
		for _, r := range page.Records {
			fn(r)
		}
		next = page.NextRecordsURL
	}
	return nil
}

// update changes fields of one record by Id.
func (c *sfClient) update(object, id string, fields map[string]any) error {
	return do(http.MethodPatch, c.base+"/services/data/"+sfVersion+"/sobjects/"+object+"/"+id, c.header, fields, nil)
}

// icUpdate changes attributes of one Intercom contact.
func icUpdate(base, id string, body map[string]any) error {
	h := http.Header{"Authorization": {"Bearer " + intercom.Token}, "Intercom-Version": {"2.14"}}
	return do(http.MethodPut, base+"/contacts/"+id, h, body, nil)
}

// scrollPage is how many companies a page of Intercom's company scroll
// holds (the emulator's, as Intercom's).
const scrollPage = 50

// icListed reads how many contacts and companies Intercom lists (the
// total_count of their list endpoints): what a sweep pages through.
func icListed(base string) (contacts, companies int, err error) {
	h := http.Header{"Authorization": {"Bearer " + intercom.Token}, "Intercom-Version": {"2.14"}}
	var page struct {
		TotalCount int `json:"total_count"`
	}
	if err := do(http.MethodGet, base+"/contacts?per_page=1", h, nil, &page); err != nil {
		return 0, 0, err
	}
	contacts = page.TotalCount
	if err := do(http.MethodPost, base+"/companies/list?per_page=1", h, nil, &page); err != nil {
		return 0, 0, err
	}
	return contacts, page.TotalCount, nil
}
