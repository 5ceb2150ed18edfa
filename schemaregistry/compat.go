package schemaregistry

import (
	"fmt"

	tavro "github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
)

// The compatibility levels, as Confluent defines them. "Reads" is Avro
// schema resolution (twmb/avro's Resolve, what the codecs do with every
// record written with another schema): the reader's added fields need
// defaults, a type may only be promoted (int to long, ...), record names
// must match (or be aliased), and so on.
//
//	BACKWARD             the new schema reads data written with the latest version (Confluent's default)
//	BACKWARD_TRANSITIVE  ... with every version
//	FORWARD              the latest version reads data written with the new schema
//	FORWARD_TRANSITIVE   every version reads it
//	FULL                 both BACKWARD and FORWARD, against the latest version
//	FULL_TRANSITIVE      both, against every version
//	NONE                 no check
//
// Soft-deleted versions are not checked against.

// transitive reports whether level checks against every version.
func transitive(level sr.CompatibilityLevel) bool {
	switch level {
	case sr.CompatBackwardTransitive, sr.CompatForwardTransitive, sr.CompatFullTransitive:
		return true
	}
	return false
}

func backward(level sr.CompatibilityLevel) bool {
	switch level {
	case sr.CompatBackward, sr.CompatBackwardTransitive, sr.CompatFull, sr.CompatFullTransitive:
		return true
	}
	return false
}

func forward(level sr.CompatibilityLevel) bool {
	switch level {
	case sr.CompatForward, sr.CompatForwardTransitive, sr.CompatFull, sr.CompatFullTransitive:
		return true
	}
	return false
}

// against is a version a new schema is checked against.
type against struct {
	version int
	schema  *schema
}

// targets are the versions of sub a new schema is checked against at
// level: the latest live one, or every live one for a transitive level.
func (st *state) targets(sub *subject, level sr.CompatibilityLevel) []against {
	if sub == nil || level == sr.CompatNone {
		return nil
	}
	vs := sub.sortedVersions(false)
	if !transitive(level) && len(vs) > 1 {
		vs = vs[len(vs)-1:]
	}
	out := make([]against, 0, len(vs))
	for _, v := range vs {
		out = append(out, against{v, st.byID[sub.versions[v].id]})
	}
	return out
}

// incompatibilities checks s against each of targets at level and
// describes every failure, in Confluent's style; none: compatible.
func incompatibilities(s *tavro.Schema, level sr.CompatibilityLevel, targets []against) []string {
	var out []string
	for _, t := range targets {
		if t.schema == nil {
			continue
		}
		old, err := t.schema.avro()
		if err != nil {
			out = append(out, fmt.Sprintf("{oldSchemaVersion: %d, compatibility: '%s', description: 'version %d cannot be compared: %v'}", t.version, level, t.version, err))
			continue
		}
		if backward(level) {
			if _, err := tavro.Resolve(old, s); err != nil {
				out = append(out, fmt.Sprintf("{oldSchemaVersion: %d, oldSchemaId: %d, compatibility: '%s', description: 'the new schema cannot read data written with version %d: %v'}", t.version, t.schema.id, level, t.version, err))
			}
		}
		if forward(level) {
			if _, err := tavro.Resolve(s, old); err != nil {
				out = append(out, fmt.Sprintf("{oldSchemaVersion: %d, oldSchemaId: %d, compatibility: '%s', description: 'version %d cannot read data written with the new schema: %v'}", t.version, t.schema.id, level, t.version, err))
			}
		}
	}
	return out
}
