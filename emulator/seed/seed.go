// Package seed generates the deterministic synthetic dataset that both
// emulators serve: Intercom contacts and companies, and a Salesforce org
// (Users, Accounts, Contacts, Leads) holding the same people with the mess
// real teams have.
//
// Every record is a pure function of (seed, scale, index): the generators are
// iterators that produce one record at a time, so a caller that streams them
// (to a file, a hash, a count) never holds the whole dataset in memory.
package seed

import (
	"fmt"
	"hash/fnv"
	"iter"
	"math/rand/v2"
	"strings"
	"time"
)

// Params selects a dataset. The same Params always yield the same records.
type Params struct {
	Seed  int64
	Scale int // about this many Intercom contacts
}

// Base is the instant the synthetic history starts; every seeded timestamp
// lies between Base and Base+300 days, safely in the past.
var Base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Dataset is a generator over one Params.
type Dataset struct {
	p         Params
	companies int
	users     int
}

// New returns the dataset for p. Scale below 1 is treated as 1.
func New(p Params) *Dataset {
	if p.Scale < 1 {
		p.Scale = 1
	}
	c := p.Scale / 4
	if c < 1 {
		c = 1
	}
	return &Dataset{p: p, companies: c, users: 10}
}

// Params returns the parameters the dataset was made from.
func (d *Dataset) Params() Params { return d.p }

// CompanyCount is the number of Intercom companies.
func (d *Dataset) CompanyCount() int { return d.companies }

// Person is an Intercom contact (user or lead).
type Person struct {
	Index        int
	ID           string
	Role         string // user | lead
	Email        string // may be empty, or carry case/whitespace noise
	ExternalID   string // users only; may be empty
	Name         string
	Phone        string
	OwnerIndex   int // admin index, -1 for none
	CompanyIndex int // -1 for none
	Unsubscribed bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	SignedUpAt   time.Time
	LastSeenAt   time.Time
	Custom       map[string]any
}

// Company is an Intercom company.
type Company struct {
	Index        int
	ID           string
	CompanyID    string // empty for companies created without one
	Name         string
	Website      string
	Industry     string
	Plan         string
	Size         int
	MonthlySpend int
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Custom       map[string]any
}

// Admin is an Intercom teammate; each has a Salesforce User with the same email.
type Admin struct {
	Index int
	ID    string
	Name  string
	Email string
}

// Record is one Salesforce row: API field names to values (string, bool,
// float64, int, time.Time for datetimes, civil dates as "YYYY-MM-DD" strings).
type Record struct {
	Object         string
	ID             string
	Fields         map[string]any
	CreatedDate    time.Time
	SystemModstamp time.Time
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Margaret", "Linus", "Sophie", "Niklaus", "Hedy", "John", "Katherine", "Dennis", "Anita", "Guido"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Lee", "Hamilton", "Torvalds", "Wilson", "Wirth", "Lamarr", "Backus", "Johnson", "Ritchie", "Borg", "Rossum"}
	words      = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent", "Wonka", "Gringotts", "Oscorp", "Aperture", "Black Mesa"}
	industries = []string{"Technology", "Manufacturing", "Retail", "Finance", "Healthcare", "Education", "Media"}
	plans      = []string{"Starter", "Pro", "Premium", "Enterprise"}
	tiers      = []string{"bronze", "silver", "gold", "platinum"}
	titles     = []string{"Engineer", "Manager", "Director", "VP Sales", "CTO", "Analyst", "Designer", "Founder"}
)

func (d *Dataset) rng(kind string, i int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", d.p.Seed, kind, i)
	s := h.Sum64()
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

func hexID(kind byte, seed int64, i int) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%c/%d", seed, kind, i)
	return fmt.Sprintf("6%07x%016x", i&0xfffffff, h.Sum64())[:24]
}

// Admins yields the Intercom teammates.
func (d *Dataset) Admins() iter.Seq[Admin] {
	return func(yield func(Admin) bool) {
		for i := range d.users {
			f, l := firstNames[(i*7)%len(firstNames)], lastNames[(i*3+5)%len(lastNames)]
			a := Admin{
				Index: i,
				ID:    fmt.Sprintf("%d", 991200000+i),
				Name:  f + " " + l,
				Email: strings.ToLower(f+"."+l) + "@ferry-sales.example.com",
			}
			if !yield(a) {
				return
			}
		}
	}
}

// domain is the bare web domain of company k.
func (d *Dataset) domain(k int) string {
	return fmt.Sprintf("%s%d.example.com", strings.ToLower(strings.ReplaceAll(words[k%len(words)], " ", "")), k)
}

// Company returns company k.
func (d *Dataset) Company(k int) Company {
	r := d.rng("company", k)
	created := Base.Add(time.Duration(k%86400) * time.Second)
	c := Company{
		Index:        k,
		ID:           hexID('c', d.p.Seed, k),
		CompanyID:    fmt.Sprintf("cmp-%d", k),
		Name:         fmt.Sprintf("%s %d", words[k%len(words)], k),
		Website:      d.domain(k),
		Industry:     industries[r.IntN(len(industries))],
		Plan:         plans[r.IntN(len(plans))],
		Size:         5 + r.IntN(5000),
		MonthlySpend: r.IntN(20000),
		CreatedAt:    created,
		UpdatedAt:    created.Add(time.Duration(r.IntN(250*86400)) * time.Second),
		Custom: map[string]any{
			"tier":         tiers[r.IntN(len(tiers))],
			"seats":        1 + r.IntN(500),
			"arr":          float64(r.IntN(10000000)) / 100,
			"paid":         r.IntN(3) != 0,
			"renewal_date": Base.Add(time.Duration(400+r.IntN(400)) * 24 * time.Hour).Unix(),
		},
	}
	if k%20 == 3 {
		c.CompanyID = "" // created in the UI without an id
	}
	return c
}

// Companies yields every Intercom company.
func (d *Dataset) Companies() iter.Seq[Company] {
	return func(yield func(Company) bool) {
		for k := range d.companies {
			if !yield(d.Company(k)) {
				return
			}
		}
	}
}

// personKind classifies contact i's Salesforce counterpart.
type personKind int

const (
	sfNone          personKind = iota
	sfContact                  // a Contact with the same email
	sfLead                     // one Lead with the same email
	sfTwoLeads                 // two Leads sharing the email (ambiguous)
	sfConvertedLead            // a converted Lead plus the Contact it became
)

func (d *Dataset) kindOf(p Person) personKind {
	if p.Email == "" {
		return sfNone
	}
	i := p.Index
	switch {
	case i%101 == 50:
		return sfConvertedLead
	case i%97 == 13:
		return sfTwoLeads
	case p.Role == "user" && i%3 == 0:
		return sfContact
	case p.Role == "user" && i%3 == 1:
		return sfLead
	case p.Role == "lead" && i%5 == 0:
		return sfLead
	}
	return sfNone
}

func cleanEmail(first, last string, i int, domain string) string {
	return strings.ToLower(fmt.Sprintf("%s.%s.%d@%s", first, last, i, domain))
}

// Person returns Intercom contact i.
func (d *Dataset) Person(i int) Person {
	r := d.rng("person", i)
	k := i % d.companies
	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	created := Base.Add(time.Duration(i%(200*86400)) * time.Second)
	updated := created.Add(time.Duration(r.IntN(90*86400)) * time.Second)
	p := Person{
		Index:        i,
		ID:           hexID('p', d.p.Seed, i),
		Role:         "user",
		Email:        cleanEmail(first, last, i, d.domain(k)),
		Name:         first + " " + last,
		Phone:        fmt.Sprintf("+1-555-%03d-%04d", r.IntN(1000), r.IntN(10000)),
		OwnerIndex:   -1,
		CompanyIndex: k,
		Unsubscribed: r.IntN(10) == 0,
		CreatedAt:    created,
		UpdatedAt:    updated,
		SignedUpAt:   created,
		LastSeenAt:   updated.Add(-time.Duration(r.IntN(3600)) * time.Second),
		Custom: map[string]any{
			"job_title":   titles[r.IntN(len(titles))],
			"lead_score":  r.IntN(100),
			"ltv":         float64(r.IntN(1000000)) / 100,
			"vip":         r.IntN(8) == 0,
			"trial_ends":  Base.Add(time.Duration(r.IntN(365)) * 24 * time.Hour).Unix(),
			"signup_plan": plans[r.IntN(len(plans))],
		},
	}
	if i%10 >= 7 {
		p.Role = "lead"
		p.SignedUpAt = time.Time{}
		if i%11 == 2 {
			p.Email = "" // anonymous visitor
			p.Name = ""
		}
	} else {
		p.ExternalID = fmt.Sprintf("usr-%d", i)
		if i%23 == 5 {
			p.Email = "" // identified by external_id only
		}
	}
	if i%4 == 0 {
		p.OwnerIndex = r.IntN(d.users)
	}
	if i%27 == 0 && p.Email != "" {
		p.Email = " " + p.Email + " " // whitespace noise on the Intercom side
	}
	return p
}

// Contacts yields every Intercom contact.
func (d *Dataset) Contacts() iter.Seq[Person] {
	return func(yield func(Person) bool) {
		for i := range d.p.Scale {
			if !yield(d.Person(i)) {
				return
			}
		}
	}
}

// SFID builds an 18-character Salesforce id from a 3-character key prefix and
// a counter: 15 case-sensitive characters plus the case-folding checksum.
func SFID(prefix string, n uint64) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var body [12]byte
	for j := 11; j >= 0; j-- {
		body[j] = alphabet[n%62]
		n /= 62
	}
	id := prefix + string(body[:])
	const suffix = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	var out [3]byte
	for c := range 3 {
		flags := 0
		for j := range 5 {
			ch := id[c*5+j]
			if ch >= 'A' && ch <= 'Z' {
				flags |= 1 << j
			}
		}
		out[c] = suffix[flags]
	}
	return id + string(out[:])
}

// Key prefixes of the seeded objects.
const (
	PrefixUser    = "005"
	PrefixAccount = "001"
	PrefixContact = "003"
	PrefixLead    = "00Q"
	PrefixOpp     = "006"
	PrefixOCR     = "00K"
	PrefixCase    = "500"
)

// Salesforce id counters are partitioned so seeded ids never collide with
// ids the emulator mints later (which start at 1<<40).
func seedID(prefix string, kind, i int) string {
	return SFID(prefix, uint64(kind)<<32|uint64(i))
}

// UserID is the Salesforce User matching admin i.
func (d *Dataset) UserID(i int) string { return seedID(PrefixUser, 1, i) }

func (d *Dataset) accountID(k int) string { return seedID(PrefixAccount, 1, k) }

// hasAccount reports whether company k has a Salesforce Account.
func (d *Dataset) hasAccount(k int) bool { return k%5 != 4 }

func sfTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// SalesforceRecords yields the org: Users, then Accounts, then Contacts and
// Leads (people), then Salesforce-only Contacts.
func (d *Dataset) SalesforceRecords() iter.Seq[Record] {
	return func(yield func(Record) bool) {
		for a := range d.Admins() {
			parts := strings.SplitN(a.Name, " ", 2)
			rec := Record{Object: "User", ID: d.UserID(a.Index), CreatedDate: Base, SystemModstamp: Base,
				Fields: map[string]any{"Username": a.Email, "Email": a.Email, "FirstName": parts[0], "LastName": parts[1], "IsActive": true}}
			if !yield(rec) {
				return
			}
		}
		for k := range d.companies {
			if !d.hasAccount(k) {
				continue
			}
			for _, rec := range d.accounts(k) {
				if !yield(rec) {
					return
				}
			}
		}
		for i := range d.p.Scale {
			for _, rec := range d.people(d.Person(i)) {
				if !yield(rec) {
					return
				}
			}
		}
		for j := range d.p.Scale / 10 {
			if !yield(d.sfOnlyContact(j)) {
				return
			}
		}
		// Opportunities (with contact roles) and Cases reference Accounts
		// and Contacts, so they come last.
		for k := range d.companies {
			if !d.hasAccount(k) {
				continue
			}
			for _, rec := range d.deals(k) {
				if !yield(rec) {
					return
				}
			}
		}
	}
}

func (d *Dataset) accounts(k int) []Record {
	c := d.Company(k)
	r := d.rng("account", k)
	mod := sfTime(c.UpdatedAt.Add(time.Duration(r.IntN(40*86400)-20*86400) * time.Second))
	tier := "SMB"
	switch {
	case c.MonthlySpend*12 > 200000:
		tier = "Enterprise"
	case c.MonthlySpend*12 > 100000:
		tier = "Mid-Market"
	}
	f := map[string]any{
		"Tier__c":           tier,
		"Name":              c.Name,
		"Website":           "https://www." + c.Website,
		"Industry":          c.Industry,
		"NumberOfEmployees": c.Size,
		"AnnualRevenue":     float64(c.MonthlySpend * 12),
		"OwnerId":           d.UserID(r.IntN(d.users)),
	}
	if k%3 == 0 && c.CompanyID != "" {
		f["Intercom_Company_Id__c"] = c.CompanyID // linked by an earlier sync
	}
	switch r.IntN(4) {
	case 0:
		f["Name"] = c.Name + " Inc." // Salesforce-owned name differs
	case 1:
		f["NumberOfEmployees"] = c.Size + 10 // Intercom-owned size differs
	}
	out := []Record{{Object: "Account", ID: d.accountID(k), Fields: f, CreatedDate: sfTime(c.CreatedAt), SystemModstamp: mod}}
	if k%50 == 7 {
		// A second Account on the same web domain: an ambiguous company match.
		out = append(out, Record{Object: "Account", ID: seedID(PrefixAccount, 2, k), CreatedDate: sfTime(c.CreatedAt.Add(time.Hour)), SystemModstamp: mod,
			Fields: map[string]any{"Name": c.Name + " Holdings", "Website": "http://" + c.Website + "/", "Industry": c.Industry, "OwnerId": d.UserID(0)}})
	}
	return out
}

func splitName(name string, i int) (string, string) {
	if name == "" {
		return "", fmt.Sprintf("Unknown %d", i)
	}
	parts := strings.SplitN(name, " ", 2)
	if len(parts) == 1 {
		return "", parts[0]
	}
	return parts[0], parts[1]
}

func (d *Dataset) people(p Person) []Record {
	kind := d.kindOf(p)
	if kind == sfNone {
		return nil
	}
	r := d.rng("sfperson", p.Index)
	email := strings.TrimSpace(p.Email)
	if p.Index%9 == 0 {
		email = strings.ToUpper(email[:1]) + email[1:strings.Index(email, "@")] + strings.ToUpper(email[strings.Index(email, "@"):])
	}
	first, last := splitName(p.Name, p.Index)
	// Both sides were edited at different times: a newest-wins field (Phone)
	// differs on some pairs, and the Salesforce copy is older or newer.
	mod := sfTime(p.UpdatedAt.Add(time.Duration(r.IntN(20*86400)-10*86400) * time.Second))
	phone := p.Phone
	if r.IntN(3) == 0 {
		phone = fmt.Sprintf("+1-555-%03d-%04d", r.IntN(1000), r.IntN(10000))
	}
	base := func() map[string]any {
		f := map[string]any{
			"FirstName": first, "LastName": last, "Email": email, "Phone": phone,
			"Title": titles[r.IntN(len(titles))], "OwnerId": d.UserID(r.IntN(d.users)),
			"HasOptedOutOfEmail": false, "LeadSource": "Web",
		}
		return f
	}
	created := sfTime(p.CreatedAt.Add(time.Duration(r.IntN(86400)) * time.Second))
	companyName := d.Company(p.CompanyIndex).Name
	lead := func(idKind int) Record {
		f := base()
		f["Company"] = companyName
		f["Status"] = []string{"Open - Not Contacted", "Working - Contacted"}[r.IntN(2)]
		f["IsConverted"] = false
		return Record{Object: "Lead", ID: seedID(PrefixLead, idKind, p.Index), Fields: f, CreatedDate: created, SystemModstamp: mod}
	}
	contact := func() Record {
		f := base()
		if d.hasAccount(p.CompanyIndex) {
			f["AccountId"] = d.accountID(p.CompanyIndex)
		}
		return Record{Object: "Contact", ID: seedID(PrefixContact, 1, p.Index), Fields: f, CreatedDate: created, SystemModstamp: mod}
	}
	switch kind {
	case sfContact:
		return []Record{contact()}
	case sfLead:
		return []Record{lead(1)}
	case sfTwoLeads:
		a, b := lead(1), lead(2)
		b.CreatedDate = b.CreatedDate.Add(time.Hour)
		b.Fields["Title"] = "Duplicate entry"
		return []Record{a, b}
	case sfConvertedLead:
		c := contact()
		l := lead(1)
		l.Fields["IsConverted"] = true
		l.Fields["Status"] = "Closed - Converted"
		l.Fields["ConvertedContactId"] = c.ID
		if acc, ok := c.Fields["AccountId"]; ok {
			l.Fields["ConvertedAccountId"] = acc
		}
		l.Fields["ConvertedDate"] = mod.Format("2006-01-02")
		return []Record{l, c}
	}
	return nil
}

// accountContact returns the Id of a Contact of account k, if it has one:
// the first person of company k whose Salesforce twin is a Contact.
func (d *Dataset) accountContact(k int) (string, bool) {
	for i := k; i < d.p.Scale && i < k+20*d.companies; i += d.companies {
		p := d.Person(i)
		if kind := d.kindOf(p); kind == sfContact || kind == sfConvertedLead {
			return seedID(PrefixContact, 1, i), true
		}
	}
	return "", false
}

var stages = []string{"Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review"}

// deals returns account k's Opportunities, their contact roles, and Cases:
// some accounts have one open opportunity, some two, some a Closed Won one.
func (d *Dataset) deals(k int) []Record {
	r := d.rng("deals", k)
	c := d.Company(k)
	owner := d.UserID(r.IntN(d.users))
	created := sfTime(c.CreatedAt.Add(30 * 24 * time.Hour))
	contact, hasContact := d.accountContact(k)
	var out []Record
	n := 0
	opp := func(stage string, amount float64, closeIn int) {
		id := seedID(PrefixOpp, 1+n, k)
		n++
		out = append(out, Record{Object: "Opportunity", ID: id, CreatedDate: created, SystemModstamp: created.Add(time.Duration(r.IntN(86400*60)) * time.Second),
			Fields: map[string]any{"Name": fmt.Sprintf("%s - %s", c.Name, []string{"Expansion", "Renewal", "New Seats"}[n%3]), "StageName": stage,
				"CloseDate": Base.AddDate(0, 0, closeIn).Format("2006-01-02"), "Amount": amount, "AccountId": d.accountID(k), "OwnerId": owner}})
		if hasContact {
			out = append(out, Record{Object: "OpportunityContactRole", ID: seedID(PrefixOCR, n, k), CreatedDate: created, SystemModstamp: created,
				Fields: map[string]any{"OpportunityId": id, "ContactId": contact, "Role": "Decision Maker", "IsPrimary": true}})
		}
	}
	if k%3 == 0 {
		opp(stages[r.IntN(len(stages))], float64(5000+r.IntN(200000)), 400+r.IntN(200))
	}
	if k%7 == 2 {
		opp(stages[r.IntN(len(stages))], float64(5000+r.IntN(50000)), 450)
		opp(stages[r.IntN(len(stages))], float64(5000+r.IntN(50000)), 500)
	}
	if k%5 == 1 {
		opp("Closed Won", float64(10000+r.IntN(300000)), 200)
	}
	if k%10 == 0 && hasContact {
		out = append(out, Record{Object: "Case", ID: seedID(PrefixCase, 1, k), CreatedDate: created, SystemModstamp: created,
			Fields: map[string]any{"ContactId": contact, "AccountId": d.accountID(k), "Subject": "Onboarding question", "Status": "Closed", "Priority": "Medium", "Origin": "Email", "OwnerId": owner}})
	}
	return out
}

// sfOnlyContact is a Salesforce Contact with no Intercom counterpart.
func (d *Dataset) sfOnlyContact(j int) Record {
	r := d.rng("sfonly", j)
	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	k := (j * 7) % d.companies
	created := sfTime(Base.Add(time.Duration(j%(100*86400)) * time.Second))
	f := map[string]any{
		"FirstName": first, "LastName": last,
		"Email":   fmt.Sprintf("%s.%s.sf%d@%s", strings.ToLower(first), strings.ToLower(last), j, d.domain(k)),
		"Phone":   fmt.Sprintf("+1-555-%03d-%04d", r.IntN(1000), r.IntN(10000)),
		"Title":   titles[r.IntN(len(titles))],
		"OwnerId": d.UserID(r.IntN(d.users)), "HasOptedOutOfEmail": false, "LeadSource": "Partner",
	}
	if d.hasAccount(k) {
		f["AccountId"] = d.accountID(k)
	}
	return Record{Object: "Contact", ID: seedID(PrefixContact, 3, j), Fields: f, CreatedDate: created, SystemModstamp: created.Add(time.Duration(r.IntN(30*86400)) * time.Second)}
}

// UserCount is how many Salesforce Users (and Intercom admins) the dataset has.
func (d *Dataset) UserCount() int { return d.users }
