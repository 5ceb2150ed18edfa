package mongosink

import (
	"net/url"
	"regexp"
	"strings"
)

// secretOption matches the connection-string options that can carry a
// secret (tlsCertificateKeyFilePassword, authMechanismProperties with an
// AWS session token, ...).
var secretOption = regexp.MustCompile(`(?i)(password|secret|token|authmechanismproperties)`)

// RedactURI returns a MongoDB connection string fit for logs: the password
// of its user info and the values of options that may hold secrets become
// "xxxxx". The user name and hosts stay, to say where the sink writes.
func RedactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "(not a mongodb:// URI)"
	}
	// user info ends at the last '@' before the path; hosts hold no '@'.
	authority, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		user, _, hasPass := strings.Cut(authority[:at], ":")
		if hasPass {
			user += ":xxxxx"
		}
		authority = user + "@" + authority[at+1:]
	}
	out := scheme + "://" + authority
	if path == "" && !strings.Contains(rest, "/") {
		return out
	}
	db, query, hasQuery := strings.Cut(path, "?")
	out += "/" + db
	if hasQuery {
		params := strings.Split(query, "&")
		for i, p := range params {
			name, _, _ := strings.Cut(p, "=")
			if n, err := url.QueryUnescape(name); err == nil && secretOption.MatchString(n) {
				params[i] = name + "=xxxxx"
			}
		}
		out += "?" + strings.Join(params, "&")
	}
	return out
}

// RedactError removes the secrets of uri from an error message (a driver
// error about a malformed URI may quote it).
func RedactError(uri string, err error) string {
	msg := err.Error()
	for _, secret := range uriSecrets(uri) {
		if len(secret) >= 3 {
			msg = strings.ReplaceAll(msg, secret, "xxxxx")
		}
	}
	return msg
}

func uriSecrets(uri string) []string {
	var out []string
	_, rest, _ := strings.Cut(uri, "://")
	authority, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if _, pass, ok := strings.Cut(authority[:at], ":"); ok {
			out = append(out, pass)
			if p, err := url.PathUnescape(pass); err == nil {
				out = append(out, p)
			}
		}
	}
	if _, query, ok := strings.Cut(path, "?"); ok {
		for _, p := range strings.Split(query, "&") {
			name, value, _ := strings.Cut(p, "=")
			if secretOption.MatchString(name) && value != "" {
				out = append(out, value)
				if v, err := url.QueryUnescape(value); err == nil {
					out = append(out, v)
				}
			}
		}
	}
	return out
}
