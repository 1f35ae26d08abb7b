package salesforce

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// token implements POST /services/oauth2/token for the client-credentials and
// JWT-bearer grants.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeErr(w, 405, "METHOD_NOT_ALLOWED", "HTTP Method '"+r.Method+"' not allowed. Allowed are POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthErr(w, 400, "invalid_request", "bad request body")
		return
	}
	switch grant := r.PostForm.Get("grant_type"); grant {
	case "":
		oauthErr(w, 400, "invalid_request", "grant type is missing")
	case "client_credentials":
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != ClientID {
			oauthErr(w, 400, "invalid_client_id", "client identifier invalid")
			return
		}
		if secret != ClientSecret {
			oauthErr(w, 400, "invalid_client", "invalid client credentials")
			return
		}
		s.issue(w, r)
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if s.opt.PublicKey == nil {
			oauthErr(w, 400, "invalid_grant", "invalid assertion")
			return
		}
		if desc := s.checkAssertion(r.PostForm.Get("assertion"), r); desc != "" {
			oauthErr(w, 400, "invalid_grant", desc)
			return
		}
		s.issue(w, r)
	default:
		oauthErr(w, 400, "unsupported_grant_type", "grant type not supported")
	}
}

func (s *Server) checkAssertion(assertion string, r *http.Request) string {
	if assertion == "" {
		return "invalid assertion"
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(assertion, claims, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() != "RS256" {
			return nil, fmt.Errorf("unexpected alg %s", t.Method.Alg())
		}
		return s.opt.PublicKey, nil
	}, jwt.WithoutClaimsValidation())
	if err != nil {
		return "invalid assertion"
	}
	// exp may be a number or a numeric string; it must be in the future.
	var exp int64
	switch v := claims["exp"].(type) {
	case float64:
		exp = int64(v)
	case string:
		exp, _ = strconv.ParseInt(v, 10, 64)
	}
	if exp == 0 || time.Unix(exp, 0).Before(s.opt.Now()) {
		return "expired authorization code"
	}
	if iss, _ := claims["iss"].(string); iss != ClientID {
		return "invalid client credentials"
	}
	aud, _ := claims["aud"].(string)
	self := "http://" + r.Host
	if aud != "https://login.salesforce.com" && aud != "https://test.salesforce.com" && strings.TrimSuffix(aud, "/") != self {
		return "audience is invalid"
	}
	if sub, _ := claims["sub"].(string); sub != Username {
		return "user hasn't approved this consumer"
	}
	return ""
}

func (s *Server) issue(w http.ResponseWriter, r *http.Request) {
	raw := make([]byte, 24)
	rand.Read(raw)
	tok := OrgID[:15] + "!" + strings.TrimRight(base64.RawURLEncoding.EncodeToString(raw), "=")
	tok = strings.NewReplacer("-", ".", "_", "x").Replace(tok)
	now := s.opt.Now()
	s.mu.Lock()
	s.tokens[tok] = now.Add(s.opt.TokenTTL)
	s.mu.Unlock()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	instance := scheme + "://" + r.Host
	id := instance + "/id/" + OrgID + "/" + s.org.userID
	issued := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(ClientSecret))
	mac.Write([]byte(id + issued))
	writeJSON(w, 200, map[string]string{
		"access_token": tok,
		"instance_url": instance,
		"id":           id,
		"token_type":   "Bearer",
		"issued_at":    issued,
		"signature":    base64.StdEncoding.EncodeToString(mac.Sum(nil)),
		"scope":        "api",
	})
}

// identity describes the user tokens are issued for, from its User record:
// what /services/oauth2/userinfo and the token's identity URL
// (/id/{org}/{user}) answer.
func (s *Server) identity(base string) map[string]any {
	s.org.mu.RLock()
	defer s.org.mu.RUnlock()
	email, first, last := Username, "", "Integration"
	if u := s.org.get(s.org.object("User"), s.org.userID); u != nil {
		email, _ = u.f["Email"].(string)
		first, _ = u.f["FirstName"].(string)
		last, _ = u.f["LastName"].(string)
	}
	name := strings.TrimSpace(first + " " + last)
	v := fmt.Sprintf("%d.0", maxVersion)
	return map[string]any{
		"sub": base + "/id/" + OrgID + "/" + s.org.userID, "user_id": s.org.userID, "organization_id": OrgID,
		"preferred_username": Username, "username": Username, "nickname": "integration", "name": name, "display_name": name,
		"given_name": first, "family_name": last, "email": email, "email_verified": true, "active": true,
		"user_type": "STANDARD", "language": "en_US", "locale": "en_US", "zoneinfo": "UTC", "utcOffset": 0,
		"urls": map[string]string{
			"rest":     base + "/services/data/v{version}/",
			"sobjects": base + "/services/data/v{version}/sobjects/",
			"query":    base + "/services/data/v{version}/query/",
			"profile":  base + "/" + s.org.userID,
		},
		"asserted_user": true, "is_app_installed": true, "api_version": v,
	}
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	writeJSON(w, 200, s.identity(scheme+"://"+r.Host))
}
