package salesforce

import "github.com/ferry-sync/ferry/extract"

// Documented lists, per object ferry reads, the standard fields its models
// use, with the types describe gives them (../shared/api/salesforce.md §7).
// The transform creates an object's current-state table with these columns
// when the object was never extracted, so models over an unextracted object
// read an empty table instead of failing; extraction replaces the guess
// with describe's answer.
var Documented = map[string][]extract.Column{
	"Lead": cols("Email", "FirstName", "LastName", "Company", "Phone", "Title", "Status", "LeadSource", "OwnerId",
		"ConvertedContactId", "ConvertedAccountId", "Description", "Owner.Email").
		with(extract.Boolean, "IsConverted").with(extract.Timestamp, "CreatedDate", "SystemModstamp"),
	"Contact": cols("Email", "FirstName", "LastName", "Phone", "Title", "AccountId", "OwnerId", "Owner.Email").
		with(extract.Boolean, "HasOptedOutOfEmail").with(extract.Timestamp, "CreatedDate", "SystemModstamp"),
	"Account": cols("Name", "Website", "Industry", "OwnerId", "Owner.Email").
		with(extract.Integer, "NumberOfEmployees").with(extract.Number, "AnnualRevenue").
		with(extract.Timestamp, "CreatedDate", "SystemModstamp"),
	"User": cols("Email", "Name").with(extract.Boolean, "IsActive").with(extract.Timestamp, "SystemModstamp"),
	"Opportunity": cols("AccountId", "Name", "StageName", "OwnerId").with(extract.Boolean, "IsClosed", "IsWon").
		with(extract.Number, "Amount").with(extract.Date, "CloseDate").with(extract.Timestamp, "CreatedDate", "SystemModstamp"),
	"OpportunityContactRole": cols("OpportunityId", "ContactId", "Role").with(extract.Boolean, "IsPrimary").
		with(extract.Timestamp, "SystemModstamp"),
	"Case":           cols("ContactId", "AccountId", "Status", "Subject", "Description", "OwnerId").with(extract.Boolean, "IsClosed").with(extract.Timestamp, "CreatedDate", "SystemModstamp"),
	"Campaign":       cols("Name", "Ferry_Key__c").with(extract.Boolean, "IsActive").with(extract.Timestamp, "SystemModstamp"),
	"CampaignMember": cols("CampaignId", "LeadId", "ContactId", "Status", "Ferry_Key__c").with(extract.Timestamp, "SystemModstamp"),
	"Task":           cols("WhoId", "WhatId", "Status", "Subject", "Description", "OwnerId").with(extract.Boolean, "IsClosed").with(extract.Date, "ActivityDate").with(extract.Timestamp, "SystemModstamp"),
}

type columns []extract.Column

func cols(names ...string) columns { return columns(nil).with(extract.String, names...) }

func (c columns) with(t extract.Type, names ...string) columns {
	for _, n := range names {
		c = append(c, extract.Col(n, t))
	}
	return c
}
