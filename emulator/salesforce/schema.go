package salesforce

import "strings"

// fieldMeta is one field of an sObject as describe reports it; the validators
// and the SOQL binder read the same table, so what describe promises is what
// the emulator enforces.
type fieldMeta struct {
	Name              string
	Label             string
	Type              string // id string textarea email phone url picklist boolean currency double int date datetime reference
	Length            int
	Nillable          bool
	Createable        bool
	Updateable        bool
	DefaultedOnCreate bool
	ExternalID        bool
	Unique            bool
	IDLookup          bool
	Filterable        bool
	Calculated        bool
	NameField         bool
	ReferenceTo       []string
	RelationshipName  string
	Picklist          []string
	Restricted        bool
	Precision, Scale  int
	Custom            bool
}

type objectMeta struct {
	Name        string
	Label       string
	LabelPlural string
	KeyPrefix   string
	Fields      []*fieldMeta
	byName      map[string]*fieldMeta // lower-case name
	byRel       map[string]*fieldMeta // lower-case relationship name
}

func (o *objectMeta) field(name string) *fieldMeta { return o.byName[strings.ToLower(name)] }

func (o *objectMeta) rel(name string) *fieldMeta { return o.byRel[strings.ToLower(name)] }

func str(name string, n int) *fieldMeta {
	return &fieldMeta{Name: name, Type: "string", Length: n, Nillable: true, Createable: true, Updateable: true, Filterable: true}
}

func typed(name, typ string) *fieldMeta {
	f := &fieldMeta{Name: name, Type: typ, Nillable: true, Createable: true, Updateable: true, Filterable: true}
	switch typ {
	case "email":
		f.Length = 80
	case "phone":
		f.Length = 40
	case "url":
		f.Length = 255
	case "textarea":
		f.Length = 32000
	case "currency":
		f.Precision, f.Scale = 18, 2
	case "double":
		f.Precision, f.Scale = 18, 0
	case "int":
		f.Precision = 8
	}
	return f
}

func ref(name, rel string, to ...string) *fieldMeta {
	return &fieldMeta{Name: name, Type: "reference", Length: 18, Nillable: true, Createable: true, Updateable: true, Filterable: true, ReferenceTo: to, RelationshipName: rel}
}

func pick(name string, values ...string) *fieldMeta {
	f := typed(name, "picklist")
	f.Length = 255
	f.Picklist = values
	return f
}

func readOnly(f *fieldMeta) *fieldMeta { f.Createable, f.Updateable = false, false; return f }

func required(f *fieldMeta) *fieldMeta { f.Nillable = false; return f }

func defaulted(f *fieldMeta) *fieldMeta { f.DefaultedOnCreate = true; f.Nillable = false; return f }

func extID(name string) *fieldMeta {
	f := str(name, 255)
	f.ExternalID, f.Unique, f.IDLookup, f.Custom = true, true, true, true
	return f
}

func systemFields() []*fieldMeta {
	id := readOnly(&fieldMeta{Name: "Id", Type: "id", Length: 18, IDLookup: true, Filterable: true})
	return []*fieldMeta{
		id,
		readOnly(defaulted(typed("IsDeleted", "boolean"))),
		readOnly(defaulted(typed("CreatedDate", "datetime"))),
		readOnly(defaulted(ref("CreatedById", "CreatedBy", "User"))),
		readOnly(defaulted(typed("LastModifiedDate", "datetime"))),
		readOnly(defaulted(ref("LastModifiedById", "LastModifiedBy", "User"))),
		readOnly(defaulted(typed("SystemModstamp", "datetime"))),
	}
}

var leadSources = []string{"Web", "Phone Inquiry", "Partner Referral", "Partner", "Purchased List", "Intercom", "Other"}

var opportunityStages = []string{"Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"}

var industriesPicklist = []string{"Agriculture", "Banking", "Technology", "Manufacturing", "Retail", "Finance", "Healthcare", "Education", "Media", "Other"}

func personFields() []*fieldMeta {
	email := typed("Email", "email")
	email.IDLookup = true
	name := readOnly(str("Name", 121))
	name.Calculated, name.NameField = true, true
	return []*fieldMeta{
		str("FirstName", 40),
		required(str("LastName", 80)),
		name,
		email,
		typed("Phone", "phone"),
		str("Title", 128),
		defaulted(ref("OwnerId", "Owner", "User")),
		defaulted(typed("HasOptedOutOfEmail", "boolean")),
		pick("LeadSource", leadSources...),
		typed("Description", "textarea"),
		extID("Intercom_Id__c"),
		// Intercom tags, ';'-separated (workflows.tags_to_salesforce).
		typed("Intercom_Tags__c", "textarea"),
	}
}

func buildSchema() map[string]*objectMeta {
	objs := []*objectMeta{
		{Name: "User", Label: "User", LabelPlural: "Users", KeyPrefix: "005", Fields: []*fieldMeta{
			func() *fieldMeta { f := required(str("Username", 80)); f.Unique, f.IDLookup = true, true; return f }(),
			required(typed("Email", "email")),
			str("FirstName", 40),
			required(str("LastName", 80)),
			func() *fieldMeta { f := readOnly(str("Name", 121)); f.Calculated, f.NameField = true, true; return f }(),
			defaulted(typed("IsActive", "boolean")),
		}},
		// The org itself: one read-only record, Id the org id (tools such
		// as the Salesforce CLI query it to tell a sandbox or a scratch
		// org from production).
		{Name: "Organization", Label: "Organization", LabelPlural: "Organizations", KeyPrefix: "00D", Fields: []*fieldMeta{
			func() *fieldMeta { f := readOnly(str("Name", 80)); f.NameField = true; return f }(),
			readOnly(pick("OrganizationType", "Developer Edition", "Enterprise Edition", "Unlimited Edition", "Professional Edition")),
			readOnly(str("InstanceName", 5)),
			readOnly(defaulted(typed("IsSandbox", "boolean"))),
			readOnly(str("NamespacePrefix", 15)),
			readOnly(typed("TrialExpirationDate", "datetime")),
			readOnly(str("LanguageLocaleKey", 40)),
			readOnly(str("TimeZoneSidKey", 40)),
			readOnly(str("DefaultLocaleSidKey", 40)),
			readOnly(str("Country", 80)),
		}},
		// An org's Lead and Case assignment rules, read-only through the API
		// (rules.go; the entries that pick an owner are not exposed).
		{Name: "AssignmentRule", Label: "Assignment Rule", LabelPlural: "Assignment Rules", KeyPrefix: "01Q", Fields: []*fieldMeta{
			func() *fieldMeta { f := readOnly(str("Name", 120)); f.NameField = true; return f }(),
			readOnly(pick("SobjectType", "Lead", "Case")),
			readOnly(defaulted(typed("Active", "boolean"))),
		}},
		{Name: "Account", Label: "Account", LabelPlural: "Accounts", KeyPrefix: "001", Fields: []*fieldMeta{
			func() *fieldMeta { f := required(str("Name", 255)); f.NameField = true; return f }(),
			typed("Website", "url"),
			pick("Industry", industriesPicklist...),
			typed("NumberOfEmployees", "int"),
			typed("AnnualRevenue", "currency"),
			pick("Type", "Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"),
			defaulted(ref("OwnerId", "Owner", "User")),
			str("BillingCity", 40),
			str("BillingCountry", 80),
			typed("Description", "textarea"),
			extID("Intercom_Company_Id__c"),
			typed("Health_Score__c", "double"),
			pick("Health_Band__c", "green", "yellow", "red"),
			pick("Tier__c", "Strategic", "Enterprise", "Mid-Market", "SMB"),
			// Onboarding milestones (workflows.onboarding_milestones): the
			// day the Account's people first had an Intercom event.
			typed("First_Project_Date__c", "date"),
			typed("First_Invite_Date__c", "date"),
			typed("First_Integration_Date__c", "date"),
		}},
		{Name: "Opportunity", Label: "Opportunity", LabelPlural: "Opportunities", KeyPrefix: "006", Fields: []*fieldMeta{
			func() *fieldMeta { f := required(str("Name", 120)); f.NameField = true; return f }(),
			required(pick("StageName", opportunityStages...)),
			required(typed("CloseDate", "date")),
			typed("Amount", "currency"),
			ref("AccountId", "Account", "Account"),
			defaulted(ref("OwnerId", "Owner", "User")),
			pick("Type", "New Business", "Existing Business"),
			pick("LeadSource", leadSources...),
			readOnly(defaulted(typed("IsClosed", "boolean"))),
			readOnly(defaulted(typed("IsWon", "boolean"))),
			func() *fieldMeta {
				f := defaulted(typed("Active_Support_Issue__c", "boolean"))
				f.Custom = true
				return f
			}(),
			// The key of the records ferry's shipped syncs create (expansion
			// opportunities).
			extID("Ferry_Key__c"),
		}},
		{Name: "OpportunityContactRole", Label: "Opportunity Contact Role", LabelPlural: "Opportunity Contact Roles", KeyPrefix: "00K", Fields: []*fieldMeta{
			func() *fieldMeta {
				f := required(ref("OpportunityId", "Opportunity", "Opportunity"))
				f.Updateable = false
				return f
			}(),
			required(ref("ContactId", "Contact", "Contact")),
			pick("Role", "Business User", "Decision Maker", "Economic Buyer", "Technical Buyer", "Other"),
			defaulted(typed("IsPrimary", "boolean")),
		}},
		{Name: "Case", Label: "Case", LabelPlural: "Cases", KeyPrefix: "500", Fields: []*fieldMeta{
			ref("ContactId", "Contact", "Contact"),
			ref("AccountId", "Account", "Account"),
			str("Subject", 255),
			typed("Description", "textarea"),
			defaulted(pick("Status", "New", "Working", "Escalated", "Closed")),
			defaulted(pick("Priority", "Medium", "High", "Low")),
			pick("Origin", "Phone", "Email", "Web", "Intercom"),
			defaulted(ref("OwnerId", "Owner", "User")),
			readOnly(defaulted(typed("IsClosed", "boolean"))),
			extID("Intercom_Conversation_Id__c"),
		}},
		{Name: "Campaign", Label: "Campaign", LabelPlural: "Campaigns", KeyPrefix: "701", Fields: []*fieldMeta{
			func() *fieldMeta { f := required(str("Name", 80)); f.NameField = true; return f }(),
			defaulted(typed("IsActive", "boolean")),
			pick("Type", "Conference", "Webinar", "Advertisement", "Email", "Other"),
			defaulted(pick("Status", "Planned", "In Progress", "Completed", "Aborted")),
			typed("Description", "textarea"),
			defaulted(ref("OwnerId", "Owner", "User")),
			extID("Ferry_Key__c"),
		}},
		// A Lead's or Contact's membership of a Campaign: which Campaign and
		// whom are set on create only.
		{Name: "CampaignMember", Label: "Campaign Member", LabelPlural: "Campaign Members", KeyPrefix: "00v", Fields: []*fieldMeta{
			func() *fieldMeta {
				f := required(ref("CampaignId", "Campaign", "Campaign"))
				f.Updateable = false
				return f
			}(),
			func() *fieldMeta { f := ref("LeadId", "Lead", "Lead"); f.Updateable = false; return f }(),
			func() *fieldMeta { f := ref("ContactId", "Contact", "Contact"); f.Updateable = false; return f }(),
			defaulted(pick("Status", "Sent", "Responded")),
			extID("Ferry_Key__c"),
		}},
		{Name: "Task", Label: "Task", LabelPlural: "Tasks", KeyPrefix: "00T", Fields: []*fieldMeta{
			ref("WhoId", "Who", "Contact", "Lead"),
			ref("WhatId", "What", "Account", "Opportunity", "Case"),
			str("Subject", 255),
			typed("Description", "textarea"),
			defaulted(pick("Status", "Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")),
			defaulted(pick("Priority", "Normal", "High", "Low")),
			typed("ActivityDate", "date"),
			defaulted(ref("OwnerId", "Owner", "User")),
			readOnly(defaulted(typed("IsClosed", "boolean"))),
			extID("Intercom_Conversation_Id__c"),
			extID("Ferry_Key__c"), // notification and several-Leads Tasks
		}},
		{Name: "Contact", Label: "Contact", LabelPlural: "Contacts", KeyPrefix: "003", Fields: append(personFields(),
			ref("AccountId", "Account", "Account"),
		)},
		{Name: "Lead", Label: "Lead", LabelPlural: "Leads", KeyPrefix: "00Q", Fields: append(personFields(),
			required(str("Company", 255)),
			defaulted(pick("Status", "Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")),
			typed("AnnualRevenue", "currency"),
			pick("Industry", industriesPicklist...),
			readOnly(defaulted(typed("IsConverted", "boolean"))),
			readOnly(ref("ConvertedContactId", "ConvertedContact", "Contact")),
			readOnly(ref("ConvertedAccountId", "ConvertedAccount", "Account")),
			readOnly(typed("ConvertedDate", "date")),
		)},
	}
	out := map[string]*objectMeta{}
	for _, o := range objs {
		o.Fields = append(systemFields(), o.Fields...)
		o.byName = map[string]*fieldMeta{}
		o.byRel = map[string]*fieldMeta{}
		for _, f := range o.Fields {
			if f.Label == "" {
				f.Label = labelOf(f.Name)
			}
			f.Restricted = f.Type == "picklist" && f.Name == "Status"
			f.Custom = strings.HasSuffix(f.Name, "__c") // in an org, every __c field is custom
			o.byName[strings.ToLower(f.Name)] = f
			if f.RelationshipName != "" {
				o.byRel[strings.ToLower(f.RelationshipName)] = f
			}
		}
		out[strings.ToLower(o.Name)] = o
	}
	return out
}

func labelOf(name string) string {
	name = strings.TrimSuffix(name, "__c")
	name = strings.TrimSuffix(name, "Id")
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		if r == '_' {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

func soapType(t string) string {
	switch t {
	case "id", "reference":
		return "tns:ID"
	case "boolean":
		return "xsd:boolean"
	case "currency", "double", "percent":
		return "xsd:double"
	case "int":
		return "xsd:int"
	case "date":
		return "xsd:date"
	case "datetime":
		return "xsd:dateTime"
	}
	return "xsd:string"
}

// describeJSON renders DescribeSObjectResult.
func (o *objectMeta) describeJSON(version string) map[string]any {
	fields := make([]map[string]any, 0, len(o.Fields))
	for _, f := range o.Fields {
		pv := []map[string]any{}
		for i, v := range f.Picklist {
			pv = append(pv, map[string]any{"value": v, "label": v, "active": true, "defaultValue": i == 0 && f.DefaultedOnCreate, "validFor": nil})
		}
		refTo := f.ReferenceTo
		if refTo == nil {
			refTo = []string{}
		}
		var rel any
		if f.RelationshipName != "" {
			rel = f.RelationshipName
		}
		fields = append(fields, map[string]any{
			"name": f.Name, "label": f.Label, "type": f.Type, "soapType": soapType(f.Type),
			"length": f.Length, "byteLength": f.Length * 3, "precision": f.Precision, "scale": f.Scale, "digits": 0,
			"nillable": f.Nillable, "createable": f.Createable, "updateable": f.Updateable,
			"defaultedOnCreate": f.DefaultedOnCreate, "defaultValue": nil, "calculated": f.Calculated,
			"autoNumber": false, "unique": f.Unique, "caseSensitive": false, "externalId": f.ExternalID,
			"idLookup": f.IDLookup, "nameField": f.NameField, "filterable": f.Filterable, "sortable": f.Type != "textarea",
			"groupable": f.Type != "textarea", "aggregatable": true, "custom": f.Custom, "deprecatedAndHidden": false,
			"encrypted": false, "htmlFormatted": false, "restrictedPicklist": f.Restricted, "dependentPicklist": false,
			"controllerName": nil, "picklistValues": pv, "referenceTo": refTo, "relationshipName": rel,
			"polymorphicForeignKey": false, "cascadeDelete": false, "restrictedDelete": false,
			"compoundFieldName": nil, "extraTypeInfo": nil, "inlineHelpText": nil,
		})
	}
	base := "/services/data/v" + version + "/sobjects/" + o.Name
	return map[string]any{
		"name": o.Name, "label": o.Label, "labelPlural": o.LabelPlural, "keyPrefix": o.KeyPrefix,
		"custom": false, "createable": !readOnlyObject(o), "updateable": !readOnlyObject(o), "deletable": !readOnlyObject(o), "queryable": true,
		"retrieveable": true, "replicateable": true, "searchable": true, "triggerable": true,
		"undeletable": true, "mergeable": o.Name != "User", "layoutable": true,
		"fields": fields, "childRelationships": []any{}, "recordTypeInfos": []any{},
		"urls": map[string]any{"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"},
	}
}
