package main

import (
	"fmt"
	"math/rand/v2"
)

// link is a Salesforce person ferry has matched to an Intercom contact: the
// Salesforce record carries the Intercom id in Intercom_Id__c.
type link struct {
	object, sfID, intercomID string
}

// linkedQueries select the people ferry has linked: live Contacts and
// unconverted Leads with an Intercom id, in a stable order.
var linkedQueries = []struct{ object, soql string }{
	{"Contact", "SELECT Id, Intercom_Id__c FROM Contact WHERE Intercom_Id__c != null ORDER BY Id"},
	{"Lead", "SELECT Id, Intercom_Id__c FROM Lead WHERE Intercom_Id__c != null AND IsConverted = false ORDER BY Id"},
}

// pickLinked chooses n linked people uniformly at random with a seeded
// reservoir sample: the same data picks the same records, and only n are
// held however large the org is.
func pickLinked(sf *sfClient, n int, rnd *rand.Rand) ([]link, error) {
	var picked []link
	seen := 0
	for _, q := range linkedQueries {
		err := sf.query(q.soql, func(row map[string]any) {
			id, _ := row["Id"].(string)
			ic, _ := row["Intercom_Id__c"].(string)
			seen++
			l := link{q.object, id, ic}
			if len(picked) < n {
				picked = append(picked, l)
			} else if j := rnd.IntN(seen); j < n {
				picked[j] = l
			}
		})
		if err != nil {
			return nil, err
		}
	}
	if len(picked) < n {
		return nil, fmt.Errorf("only %d linked people, %d needed", len(picked), n)
	}
	rnd.Shuffle(len(picked), func(i, j int) { picked[i], picked[j] = picked[j], picked[i] })
	return picked, nil
}

// edit changes n linked people on each side through the emulators' APIs, on
// mapped fields the example pipeline syncs, and returns how many writes each
// target should then receive:
//   - n Salesforce Contacts/Leads get a new Phone (owner newest: the side
//     that changed wins), so n Intercom contacts must be updated;
//   - n other Intercom contacts get a new custom_attributes.job_title
//     (owner intercom, synced to Title), so n Salesforce records must be.
//
// The two sets are disjoint, so every edit is one expected write.
func edit(sf *sfClient, icBase string, n int, rnd *rand.Rand) (map[string]int, error) {
	people, err := pickLinked(sf, 2*n, rnd)
	if err != nil {
		return nil, err
	}
	for _, p := range people[:n] {
		// The seed's phones are all +1-555-…, so this one is always new.
		phone := fmt.Sprintf("+1-556-%03d-%04d", rnd.IntN(1000), rnd.IntN(10000))
		if err := sf.update(p.object, p.sfID, map[string]any{"Phone": phone}); err != nil {
			return nil, err
		}
	}
	for i, p := range people[n:] {
		title := fmt.Sprintf("Bench title %d-%d", i, rnd.IntN(1_000_000))
		if err := icUpdate(icBase, p.intercomID, map[string]any{"custom_attributes": map[string]any{"job_title": title}}); err != nil {
			return nil, err
		}
	}
	return map[string]int{"intercom": n, "salesforce": n}, nil
}
