package intercom

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/emulator/seed"
	"github.com/ferry-sync/ferry/emulator/store"
)

// TestContacts_DeleteArchiveMerge: a deleted contact answers 404 to every
// request; an archived one is hidden from GET, list and search until
// unarchived, and a create matching it answers the archived 409; a lead
// merged into a user answers 410 contact_merged with the survivor in a
// canonical Link on 2.16 (404 before), its companies move to the user, and
// 2.16 refuses to merge contacts that are not duplicates unless told to.
// Each state survives a restart from the journal.
func TestContacts_DeleteArchiveMerge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j, err := store.Open(dir, "intercom.journal")
	if err != nil {
		t.Fatal(err)
	}
	_, call := setup(t, Options{Journal: j, DefaultVersion: "2.16"})
	mk := func(body map[string]any) string {
		t.Helper()
		code, _, res := call("POST", "/contacts", body)
		if code != 200 {
			t.Fatalf("create %v: %d %v", body, code, res)
		}
		return res["id"].(string)
	}
	gone := mk(map[string]any{"email": "gone@example.com", "role": "user"})
	hidden := mk(map[string]any{"email": "hidden@example.com", "role": "user"})
	user := mk(map[string]any{"email": "ada@example.com", "role": "user"})
	lead := mk(map[string]any{"email": "ada@example.com", "role": "lead"})
	other := mk(map[string]any{"email": "bob@example.com", "role": "lead"})
	_, _, co := call("POST", "/companies", map[string]any{"company_id": "acme", "name": "Acme"})
	if code, _, res := call("POST", "/contacts/"+lead+"/companies", map[string]any{"id": co["id"]}); code != 200 {
		t.Fatalf("attach: %d %v", code, res)
	}

	if code, _, res := call("DELETE", "/contacts/"+gone, nil); code != 200 || res["deleted"] != true || res["id"] != gone {
		t.Fatalf("delete: %d %v", code, res)
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		if code, _, res := call(m, "/contacts/"+gone, map[string]any{"name": "x"}); code != 404 || errCode(res) != "not_found" {
			t.Errorf("%s deleted contact: %d %v, want 404 not_found", m, code, res)
		}
	}
	if code, _, res := call("POST", "/contacts/"+hidden+"/archive", nil); code != 200 || res["archived"] != true {
		t.Fatalf("archive: %d %v", code, res)
	}
	if code, _, _ := call("GET", "/contacts/"+hidden, nil); code != 404 {
		t.Errorf("GET archived contact: %d, want 404", code)
	}
	code, _, res := call("POST", "/contacts", map[string]any{"email": "hidden@example.com", "role": "user"})
	if msg, _ := res["errors"].([]any)[0].(map[string]any)["message"].(string); code != 409 || !strings.HasPrefix(msg, "An archived contact") || !strings.HasSuffix(msg, "id="+hidden) {
		t.Errorf("create matching an archived contact: %d %v", code, res)
	}

	if code, _, res := call("POST", "/contacts/merge", map[string]any{"from": other, "into": user}); code != 400 || errCode(res) != "invalid_merge" {
		t.Errorf("merge of non-duplicates on 2.16: %d %v, want 400 invalid_merge", code, res)
	}
	code, _, res = call("POST", "/contacts/merge", map[string]any{"from": lead, "into": user})
	if code != 200 || res["id"] != user {
		t.Fatalf("merge: %d %v", code, res)
	}
	if companies := res["companies"].(map[string]any)["data"].([]any); len(companies) != 1 {
		t.Errorf("merged user's companies: %v, want the lead's one", companies)
	}
	check := func(t *testing.T, call func(string, string, any) (int, http.Header, map[string]any)) {
		t.Helper()
		code, h, res := call("GET", "/contacts/"+lead, nil)
		if code != 410 || errCode(res) != "contact_merged" || h.Get("Link") != "</contacts/"+user+`>; rel="canonical"` {
			t.Errorf("GET merged lead: %d %v Link %q", code, res, h.Get("Link"))
		}
		if code, _, _ := call("PUT", "/contacts/"+lead, map[string]any{"name": "x"}); code != 404 {
			t.Errorf("PUT merged lead: %d, want 404 (410 is documented for fetching only)", code)
		}
		if code, _, _ := call("GET", "/contacts/"+hidden, nil); code != 404 {
			t.Errorf("archived contact visible again: %d", code)
		}
		_, _, list := call("GET", "/contacts?per_page=150", nil)
		var ids []string
		for _, c := range list["data"].([]any) {
			ids = append(ids, c.(map[string]any)["id"].(string))
		}
		if strings.Contains(strings.Join(ids, ","), lead) || strings.Contains(strings.Join(ids, ","), gone) || strings.Contains(strings.Join(ids, ","), hidden) {
			t.Errorf("list shows a merged, deleted or archived contact: %v", ids)
		}
		if n := int(list["total_count"].(float64)); n != len(ids) {
			t.Errorf("list total_count %d for %d listed", n, len(ids))
		}
	}
	check(t, call)
	j.Close()
	j2, err := store.Open(dir, "intercom.journal")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j2.Close() })
	_, again := setup(t, Options{Journal: j2, DefaultVersion: "2.16"})
	check(t, again)
	if code, _, _ := again("POST", "/contacts/"+hidden+"/unarchive", nil); code != 200 {
		t.Fatalf("unarchive: %d", code)
	}
	if code, _, _ := again("GET", "/contacts/"+hidden, nil); code != 200 {
		t.Errorf("unarchived contact: %d, want 200", code)
	}
}

// TestContacts_ListPagesEveryContactOnce: GET /contacts pages by cursor
// through every visible contact exactly once.
func TestContacts_ListPagesEveryContactOnce(t *testing.T) {
	t.Parallel()
	_, call := setup(t, Options{Dataset: seed.New(seed.Params{Seed: 3, Scale: 700})})
	seen := map[string]bool{}
	path, pages, total := "/contacts?per_page=150", 0, 0
	for path != "" {
		code, _, res := call("GET", path, nil)
		if code != 200 {
			t.Fatalf("%s: %d %v", path, code, res)
		}
		pages++
		total = int(res["total_count"].(float64))
		for _, c := range res["data"].([]any) {
			id := c.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("contact %s listed twice", id)
			}
			seen[id] = true
		}
		path = ""
		if next, ok := res["pages"].(map[string]any)["next"].(map[string]any); ok {
			path = "/contacts?per_page=150&starting_after=" + url.QueryEscape(next["starting_after"].(string))
		}
	}
	if len(seen) != total || pages != (total+149)/150 {
		t.Fatalf("listed %d contacts in %d pages; total_count %d", len(seen), pages, total)
	}
}

// TestContacts_MergeBefore216: before 2.16 a merge takes any lead into any
// user, and the merged lead answers 404 (no 410, no Link).
func TestContacts_MergeBefore216(t *testing.T) {
	t.Parallel()
	_, call := setup(t, Options{DefaultVersion: "2.14"})
	_, _, user := call("POST", "/contacts", map[string]any{"email": "ada@example.com", "role": "user"})
	_, _, lead := call("POST", "/contacts", map[string]any{"email": "bob@example.com", "role": "lead"})
	if code, _, res := call("POST", "/contacts/merge", map[string]any{"from": lead["id"], "into": user["id"]}); code != 200 {
		t.Fatalf("merge of non-duplicates on 2.14: %d %v", code, res)
	}
	if code, h, res := call("GET", "/contacts/"+lead["id"].(string), nil); code != 404 || h.Get("Link") != "" || errCode(res) != "not_found" {
		t.Fatalf("GET merged lead on 2.14: %d %v Link %q, want 404", code, res, h.Get("Link"))
	}
}

// TestCompanies_Delete: a deleted company answers 404 company_not_found,
// leaves its contacts, and its company_id can be taken by a new company.
func TestCompanies_Delete(t *testing.T) {
	t.Parallel()
	_, call := setup(t, Options{})
	_, _, co := call("POST", "/companies", map[string]any{"company_id": "acme", "name": "Acme"})
	_, _, c := call("POST", "/contacts", map[string]any{"email": "ada@example.com", "role": "user"})
	id := co["id"].(string)
	call("POST", "/contacts/"+c["id"].(string)+"/companies", map[string]any{"id": id})
	if code, _, res := call("DELETE", "/companies/"+id, nil); code != 200 || res["deleted"] != true || res["object"] != "company" {
		t.Fatalf("delete company: %d %v", code, res)
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		if code, _, res := call(m, "/companies/"+id, map[string]any{"name": "x"}); code != 404 || errCode(res) != "company_not_found" {
			t.Errorf("%s deleted company: %d %v", m, code, res)
		}
	}
	if _, _, got := call("GET", "/contacts/"+c["id"].(string), nil); got["companies"].(map[string]any)["total_count"].(float64) != 0 {
		t.Errorf("the deleted company is still attached: %v", got["companies"])
	}
	if _, _, again := call("POST", "/companies", map[string]any{"company_id": "acme", "name": "Acme again"}); again["id"] == id || again["id"] == nil {
		t.Errorf("POST with the deleted company's company_id: %v, want a new company", again)
	}
}
