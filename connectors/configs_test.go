package connectors_test

// Checks the Kafka Connect configurations in connectors/cloud (Confluent Cloud,
// fully managed) and connectors/connect (self-managed Connect REST API) against
// the Go code: the CDC tables of connectors/cdc, the sink defaults of
// connectors/mongosink, the Avro schemas and database/ddl.sql; that the
// MariaDB variants in connectors/connect/mariadb differ from the MySQL files
// only in the connector class; and that the Cloud sources run the SMT chain of
// the self-managed ones, which connect_test.go runs in a real Kafka Connect
// worker (what the records look like is checked there, not modelled here).
//
// No Docker, no network. The deploy.sh test needs bash and is skipped without it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/connectors/cdc"
	"github.com/orderstream/pipeline/connectors/mongosink"
)

// platform is one directory of configurations.
type platform struct {
	dir         string
	sourceClass string
	sinkClass   string
	// secret is the form a whole secret value must have; placeholder finds
	// placeholders inside any value, each of which must have that form.
	secret      *regexp.Regexp
	placeholder *regexp.Regexp
	required    map[string][]string // connector.class -> keys that must be present
	fixed       map[string]map[string]string
}

var anyPlaceholder = regexp.MustCompile(`\$\{[^}]*\}`)

var (
	cloud = platform{
		dir:         "cloud",
		sourceClass: "MySqlCdcSourceV2",
		sinkClass:   "MongoDbAtlasSink",
		secret:      regexp.MustCompile(`^\$\{[A-Z][A-Z0-9_]*\}$`),
		placeholder: regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)\}`),
		required: map[string][]string{
			"MySqlCdcSourceV2": {
				"name", "connector.class", "tasks.max", "kafka.auth.mode", "kafka.api.key", "kafka.api.secret",
				"database.hostname", "database.port", "database.user", "database.password",
				"topic.prefix", "database.include.list", "table.include.list", "snapshot.mode", "tombstones.on.delete",
				"after.state.only", "output.data.format", "output.key.format", "decimal.handling.mode", "time.precision.mode",
				"transforms",
			},
			"MongoDbAtlasSink": {
				"name", "connector.class", "tasks.max", "kafka.auth.mode", "kafka.api.key", "kafka.api.secret",
				"topics", "input.data.format", "input.key.format", "connection.host", "connection.user",
				"connection.password", "database", "collection", "doc.id.strategy", "write.strategy",
				"delete.on.null.values", "errors.tolerance", "errors.deadletterqueue.topic.name", "transforms",
			},
		},
		fixed: map[string]map[string]string{
			"MySqlCdcSourceV2": {
				"kafka.auth.mode":        "KAFKA_API_KEY",
				"tasks.max":              "1",
				"snapshot.mode":          "initial",
				"tombstones.on.delete":   "true",
				"after.state.only":       "false",
				"include.schema.changes": "false",
				"output.data.format":     "AVRO",
				"output.key.format":      "STRING",
				"decimal.handling.mode":  "precise",
				"time.precision.mode":    "connect",
			},
			"MongoDbAtlasSink": {
				"kafka.auth.mode":        "KAFKA_API_KEY",
				"input.data.format":      "AVRO",
				"input.key.format":       "STRING",
				"delete.on.null.values":  "true",
				"errors.tolerance":       "all",
				"mongo.errors.tolerance": "NONE",
			},
		},
	}
	selfManaged = platform{
		dir:         "connect",
		sourceClass: "io.debezium.connector.mysql.MySqlConnector",
		sinkClass:   "com.mongodb.kafka.connect.MongoSinkConnector",
		secret:      regexp.MustCompile(`^\$\{env:[A-Z][A-Z0-9_]*\}$`),
		placeholder: regexp.MustCompile(`\$\{env:([A-Z][A-Z0-9_]*)\}`),
		required: map[string][]string{
			"io.debezium.connector.mysql.MySqlConnector": {
				"name", "connector.class", "tasks.max", "database.hostname", "database.port", "database.user",
				"database.password", "database.server.id", "topic.prefix", "database.include.list", "table.include.list",
				"schema.history.internal.kafka.bootstrap.servers", "schema.history.internal.kafka.topic",
				"snapshot.mode", "tombstones.on.delete", "decimal.handling.mode", "time.precision.mode",
				"key.converter", "value.converter", "value.converter.schema.registry.url", "transforms",
			},
			"com.mongodb.kafka.connect.MongoSinkConnector": {
				"name", "connector.class", "tasks.max", "topics", "connection.uri", "database", "collection",
				"key.converter", "value.converter", "value.converter.schema.registry.url",
				"document.id.strategy", "writemodel.strategy", "delete.on.null.values", "errors.tolerance",
				"errors.deadletterqueue.topic.name", "errors.deadletterqueue.context.headers.enable", "transforms",
			},
		},
		fixed: map[string]map[string]string{
			"io.debezium.connector.mysql.MySqlConnector": {
				"tasks.max":         "1",
				"database.hostname": "mysql",
				"schema.history.internal.kafka.bootstrap.servers": "kafka:29092",
				"snapshot.mode":                       "initial",
				"tombstones.on.delete":                "true",
				"include.schema.changes":              "false",
				"extended.headers.enabled":            "false",
				"decimal.handling.mode":               "precise",
				"time.precision.mode":                 "connect",
				"key.converter":                       "org.apache.kafka.connect.storage.StringConverter",
				"value.converter":                     "io.confluent.connect.avro.AvroConverter",
				"value.converter.schema.registry.url": "http://schema-registry:8081",
			},
			"com.mongodb.kafka.connect.MongoSinkConnector": {
				"key.converter":                                 "org.apache.kafka.connect.storage.StringConverter",
				"value.converter":                               "io.confluent.connect.avro.AvroConverter",
				"value.converter.schema.registry.url":           "http://schema-registry:8081",
				"delete.on.null.values":                         "true",
				"errors.tolerance":                              "all",
				"mongo.errors.tolerance":                        "data",
				"errors.deadletterqueue.context.headers.enable": "true",
			},
		},
	}
	platforms = []platform{cloud, selfManaged}
)

// secretKey matches the configuration keys whose values are credentials.
var secretKey = regexp.MustCompile(`(?i)(password|secret|api\.key|connection\.uri|user\.info|credentials)`)

type connectorFile struct {
	path   string
	name   string
	config map[string]string
}

func loadDir(t *testing.T, p platform) []connectorFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(p.dir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no configuration in %s/", p.dir)
	var out []connectorFile
	for _, path := range paths {
		out = append(out, loadFile(t, path))
	}
	return out
}

func loadFile(t *testing.T, path string) connectorFile {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var raw struct {
		Name   string         `json:"name"`
		Config map[string]any `json:"config"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&raw), "%s: not a {\"name\":..., \"config\":{...}} JSON document", path)
	require.NotEmpty(t, raw.Name, "%s: no name", path)
	require.NotEmpty(t, raw.Config, "%s: no config", path)
	cfg := map[string]string{}
	for k, v := range raw.Config {
		s, ok := v.(string)
		require.True(t, ok, "%s: %q is %T; Connect configurations are strings", path, k, v)
		cfg[k] = s
	}
	require.Equal(t, raw.Name, cfg["name"], "%s: name and config.name differ", path)
	return connectorFile{path: path, name: raw.Name, config: cfg}
}

// sources returns the source configurations of p by captured table, and its sink.
func classify(t *testing.T, p platform, files []connectorFile) (map[string]connectorFile, connectorFile) {
	t.Helper()
	sources := map[string]connectorFile{}
	var sinks []connectorFile
	for _, f := range files {
		switch f.config["connector.class"] {
		case p.sourceClass:
			table := f.config["table.include.list"]
			_, dup := sources[table]
			require.False(t, dup, "%s: a second source for %q", f.path, table)
			sources[table] = f
		case p.sinkClass:
			sinks = append(sinks, f)
		default:
			t.Fatalf("%s: connector.class %q is neither %s nor %s", f.path, f.config["connector.class"], p.sourceClass, p.sinkClass)
		}
	}
	require.Len(t, sinks, 1, "%s/: want exactly one %s", p.dir, p.sinkClass)
	return sources, sinks[0]
}

func TestConfigsParseAndHaveRequiredKeys(t *testing.T) {
	for _, p := range platforms {
		for _, f := range loadDir(t, p) {
			t.Run(f.path, func(t *testing.T) {
				class := f.config["connector.class"]
				required, ok := p.required[class]
				require.True(t, ok, "unknown connector.class %q", class)
				for _, k := range required {
					assert.NotEmpty(t, f.config[k], "missing %q", k)
				}
				for k, want := range p.fixed[class] {
					assert.Equal(t, want, f.config[k], "%q", k)
				}
				// transforms / predicates: every alias has a type, no orphan settings
				chain(t, f)
				predicates(t, f)
			})
		}
	}
}

func TestNoLiteralSecrets(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, p := range platforms {
		for _, f := range loadDir(t, p) {
			t.Run(f.path, func(t *testing.T) {
				for k, v := range f.config {
					if secretKey.MatchString(k) {
						assert.Regexp(t, p.secret, v, "%q must be a placeholder resolved from the environment, not a literal", k)
					}
					for _, ph := range anyPlaceholder.FindAllString(v, -1) {
						assert.Regexp(t, "^"+p.placeholder.String()+"$", ph, "%q: placeholder %s has the wrong form for %s/", k, ph, p.dir)
						name := p.placeholder.FindStringSubmatch(ph)
						if len(name) == 2 {
							assert.Contains(t, string(readme), name[1], "variable %s (%q) is not documented in connectors/README.md", name[1], k)
						}
					}
				}
			})
		}
	}
}

func TestSourcesAgreeWithCode(t *testing.T) {
	ddl := parseDDL(t)
	require.Contains(t, ddl.databases, cdc.DefaultDatabase, "database/ddl.sql does not create database %q", cdc.DefaultDatabase)
	for _, p := range platforms {
		sources, _ := classify(t, p, loadDir(t, p))
		want := map[string]bool{}
		for _, tbl := range cdc.DefaultTables {
			want[tbl.Database+"."+tbl.Name] = true
		}
		for table := range sources {
			assert.True(t, want[table], "%s/: a source for %q, which is not in cdc.DefaultTables", p.dir, table)
		}
		prefixes, serverIDs, names := map[string]string{}, map[string]string{}, map[string]string{}
		for _, tbl := range cdc.DefaultTables {
			f, ok := sources[tbl.Database+"."+tbl.Name]
			if !assert.True(t, ok, "%s/: no source configuration for table %s.%s", p.dir, tbl.Database, tbl.Name) {
				continue
			}
			t.Run(f.path, func(t *testing.T) {
				for seen, what := range map[string]map[string]string{"topic.prefix": prefixes, "database.server.id": serverIDs, "schema.history.internal.kafka.topic": names} {
					v := f.config[seen]
					if v == "" {
						continue
					}
					other, dup := what[v]
					assert.False(t, dup, "%s %q is also used by %s: each connector needs its own", seen, v, other)
					what[v] = f.path
				}
				checkSource(t, p, f, tbl, ddl)
			})
		}
	}
}

func checkSource(t *testing.T, p platform, f connectorFile, tbl cdc.Table, ddl ddlInfo) {
	cfg := f.config
	assert.Equal(t, tbl.Database+"."+tbl.Name, cfg["table.include.list"])
	assert.Equal(t, cdc.DefaultDatabase, tbl.Database)
	assert.Equal(t, tbl.Database, cfg["database.include.list"])

	// the table and its columns
	cols, ok := ddl.tables[tbl.Name]
	require.True(t, ok, "database/ddl.sql has no CREATE TABLE %s", tbl.Name)
	assert.Equal(t, []string{tbl.KeyColumn}, cols.primaryKey, "cdc KeyColumn must be the primary key of %s in ddl.sql", tbl.Name)
	for _, m := range tbl.Mask {
		assert.Contains(t, cols.columns, m, "masked column %q is not a column of %s in ddl.sql", m, tbl.Name)
	}

	// the Avro record the rows become, and its agreement with the table
	rec := parseAvro(t, tbl.Schema)
	assert.True(t, strings.HasPrefix(rec.fullName, avro.Namespace+"."), "schema %s is not in namespace %s", rec.fullName, avro.Namespace)
	assert.ElementsMatch(t, cols.columns, rec.fields, "columns of %s in ddl.sql and fields of %s differ: the unwrapped row would not be the record SetSchemaMetadata names it", tbl.Name, rec.fullName)

	// the chain, key by key
	smts := chain(t, f)
	preds := predicates(t, f)
	byType := map[string][]smt{}
	for _, s := range smts {
		byType[s.typ] = append(byType[s.typ], s)
	}
	if assert.Len(t, byType[typeValueToKey], 1, "want one ValueToKey") {
		assert.Equal(t, tbl.KeyColumn, byType[typeValueToKey][0].props["fields"], "ValueToKey fields")
	}
	if assert.Len(t, byType[typeExtractFieldKey], 1, "want one ExtractField$Key") {
		assert.Equal(t, tbl.KeyColumn, byType[typeExtractFieldKey][0].props["field"], "ExtractField$Key field")
		assert.Empty(t, byType[typeExtractFieldKey][0].props["predicate"], "ExtractField$Key must also reduce a tombstone's key to the id, or compaction keeps the row")
	}
	if assert.Len(t, byType[typeSetSchemaValue], 1, "want one SetSchemaMetadata$Value") {
		assert.Equal(t, rec.fullName, byType[typeSetSchemaValue][0].props["schema.name"], "SetSchemaMetadata$Value schema.name must be namespace.name of the table's .avsc")
	}
	masks := byType[typeMaskValue]
	if len(tbl.Mask) == 0 {
		assert.Empty(t, masks, "table %s masks nothing in cdc.DefaultTables", tbl.Name)
	} else if assert.Len(t, masks, 1, "want one MaskField$Value") {
		assert.ElementsMatch(t, tbl.Mask, splitList(masks[0].props["fields"]), "MaskField fields must equal cdc.DefaultTables Mask")
		assert.Equal(t, cdc.DefaultMaskReplacement, masks[0].props["replacement"], "MaskField replacement must equal cdc.DefaultMaskReplacement")
	}
	routers := append(byType[typeRegexRouter], byType[typeTopicRegexRouter]...)
	if assert.Len(t, routers, 1, "want one topic router") {
		assert.Empty(t, routers[0].props["predicate"], "the router must route tombstones too")
	}
	for _, s := range smts {
		if s.typ == typeValueToKey || s.typ == typeMaskValue || s.typ == typeSetSchemaValue {
			assert.Equal(t, typeIsTombstone, preds[s.props["predicate"]], "%s (%s) would throw on a tombstone: give it a RecordIsTombstone predicate", s.alias, s.typ)
			assert.Equal(t, "true", s.props["negate"], "%s (%s): negate=true, so it runs on everything but tombstones", s.alias, s.typ)
		}
	}
	require.NotEmpty(t, smts)
	first := smts[0]
	assert.Equal(t, typeUnwrap, first.typ, "our own ExtractNewRecordState must come first: the other SMTs work on the row, not on the envelope")
	assert.NotEqual(t, "unwrap", first.alias, "the managed CDC connectors reserve the alias unwrap for after.state.only")
	assert.Equal(t, "drop", first.props["delete.tombstone.handling.mode"], "drop: the delete events go; Debezium's own tombstone (null value, no schema) is what reaches Kafka")
	assert.Equal(t, typeIsTombstone, preds[first.props["predicate"]], "%s must not see Debezium's tombstones (isTombstone, negate=true), or drop mode drops them too", first.alias)
	assert.Equal(t, "true", first.props["negate"], "%s: negate=true", first.alias)
	assert.Equal(t, "true", cfg["tombstones.on.delete"], "the tombstone is the delete")
	assert.Equal(t, "^"+strings.ReplaceAll(cfg["topic.prefix"]+"."+tbl.Database+"."+tbl.Name, ".", `\.`)+"$", routers[0].props["regex"], "the router renames exactly <topic.prefix>.<database>.<table> (anchored)")
	assert.Equal(t, tbl.Topic, routers[0].props["replacement"], "the router's replacement is cdc.DefaultTables Topic")
	if p.dir == cloud.dir {
		assert.Equal(t, typeTopicRegexRouter, routers[0].typ, "RegexRouter is not available to managed connectors; use TopicRegexRouter")
		assert.Equal(t, "false", cfg["after.state.only"], "after.state.only=true adds a __deleted field and makes a delete two records; our ExtractNewRecordState unwraps")
		assert.Empty(t, cfg["database.server.id"], "Confluent Cloud sets database.server.id itself")
	} else {
		assert.Equal(t, typeRegexRouter, routers[0].typ)
	}
}

func TestSinkAgreesWithCode(t *testing.T) {
	for _, p := range platforms {
		_, f := classify(t, p, loadDir(t, p))
		t.Run(f.path, func(t *testing.T) {
			cfg := f.config
			assert.Equal(t, mongosink.DefaultTopic, cfg["topics"], "topics")
			assert.Empty(t, cfg["topics.regex"])
			assert.Equal(t, mongosink.DefaultDatabase, cfg["database"], "database")
			assert.Equal(t, mongosink.DefaultCollection, cfg["collection"], "collection")
			assert.Equal(t, mongosink.DefaultDLQ, cfg["errors.deadletterqueue.topic.name"], "dead letter topic")
			assert.NotContains(t, splitList(cfg["topics"]), cfg["errors.deadletterqueue.topic.name"], "a sink must not read its own dead letter topic")

			idStrategy, writeStrategy := cfg["document.id.strategy"], cfg["writemodel.strategy"]
			if p.dir == cloud.dir {
				idStrategy, writeStrategy = cfg["doc.id.strategy"], cfg["write.strategy"]
			}
			assert.Equal(t, "ProvidedInKeyStrategy", lastDot(idStrategy), "_id from the Kafka key")
			assert.Equal(t, "ReplaceOneDefaultStrategy", lastDot(writeStrategy), "replace (upsert) by _id")

			smts := chain(t, f)
			predicates(t, f)
			var hoist []smt
			for _, s := range smts {
				if s.typ == typeHoistFieldKey {
					hoist = append(hoist, s)
				}
			}
			if assert.Len(t, hoist, 1, "ProvidedInKeyStrategy needs the key to be a document with _id: HoistField$Key field=_id") {
				assert.Equal(t, "_id", hoist[0].props["field"])
				assert.Empty(t, hoist[0].props["predicate"], "tombstones need the _id too")
			}
			assert.Equal(t, "true", cfg["delete.on.null.values"], "a tombstone must delete the document")
		})
	}
}

// TestMariaDBFilesDifferOnlyInClass: connectors/connect holds the sources for
// MySQL (docker-compose's MySQL 8.4: Debezium's MySqlConnector, which 3.x
// keeps to MySQL), connectors/connect/mariadb the same for MariaDB (Debezium's
// MariaDbConnector; connect_test.go runs those on the test MariaDB). They
// must not drift apart in anything but the class.
func TestMariaDBFilesDifferOnlyInClass(t *testing.T) {
	mariadb, err := filepath.Glob(filepath.Join(selfManaged.dir, "mariadb", "*.json"))
	require.NoError(t, err)
	sources, _ := classify(t, selfManaged, loadDir(t, selfManaged))
	require.Len(t, mariadb, len(sources), "one MariaDB file per MySQL source in %s/", selfManaged.dir)
	for _, path := range mariadb {
		m := loadFile(t, path)
		mysql, ok := sources[m.config["table.include.list"]]
		if !assert.True(t, ok, "%s: no MySQL source for %q", path, m.config["table.include.list"]) {
			continue
		}
		assert.Equal(t, "mariadb-cdc-"+strings.TrimPrefix(filepath.Base(mysql.path), "mysql-cdc-"), filepath.Base(path), "named after its MySQL file")
		assert.Equal(t, "io.debezium.connector.mariadb.MariaDbConnector", m.config["connector.class"], path)
		assert.Equal(t, mysql.name, m.name, "%s: the same connector (name, offsets, topics) on another database", path)
		for _, k := range sortedUnion(m.config, mysql.config) {
			if k != "connector.class" {
				assert.Equal(t, mysql.config[k], m.config[k], "%s and %s differ in %q", path, mysql.path, k)
			}
		}
	}
}

// TestCloudRunsTheSelfManagedChain: the Confluent Cloud sources shape their
// records with the SMT chain of the self-managed ones (connect_test.go runs
// that one for real); only the router's class differs, and the settings that
// shape a record are the same.
func TestCloudRunsTheSelfManagedChain(t *testing.T) {
	cloudSources, _ := classify(t, cloud, loadDir(t, cloud))
	selfSources, _ := classify(t, selfManaged, loadDir(t, selfManaged))
	for table, c := range cloudSources {
		s, ok := selfSources[table]
		if !assert.True(t, ok, "no self-managed source for %s", table) {
			continue
		}
		for _, k := range sortedUnion(c.config, s.config) {
			shapes := strings.HasPrefix(k, "transforms") || strings.HasPrefix(k, "predicates") ||
				slices.Contains([]string{"topic.prefix", "database.include.list", "table.include.list", "snapshot.mode",
					"tombstones.on.delete", "decimal.handling.mode", "time.precision.mode", "include.schema.changes"}, k)
			if !shapes {
				continue
			}
			if k == "transforms.route.type" {
				assert.Equal(t, typeTopicRegexRouter, c.config[k])
				assert.Equal(t, typeRegexRouter, s.config[k])
				continue
			}
			assert.Equal(t, s.config[k], c.config[k], "%s and %s differ in %q", c.path, s.path, k)
		}
	}
}

func sortedUnion(a, b map[string]string) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestDeployScript runs connectors/cloud/deploy.sh against a stub `confluent`
// that keeps the rendered files: every placeholder must be substituted (values
// JSON-escaped), nothing created while a variable is missing, no value printed.
func TestDeployScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found")
	}
	script, err := filepath.Abs(filepath.Join(cloud.dir, "deploy.sh"))
	require.NoError(t, err)
	info, err := os.Stat(script)
	require.NoError(t, err)
	assert.NotZero(t, info.Mode()&0o111, "deploy.sh must be executable")

	files := loadDir(t, cloud)
	values := map[string]string{}
	for _, f := range files {
		for _, v := range f.config {
			for _, m := range cloud.placeholder.FindAllStringSubmatch(v, -1) {
				// awkward on purpose: quotes, backslashes, & and $ must survive
				values[m[1]] = fmt.Sprintf(`v&"\%s$1${MYSQL_HOST}`, strings.ToLower(m[1]))
			}
		}
	}
	require.NotEmpty(t, values)

	stubDir, outDir := t.TempDir(), t.TempDir()
	stub := "#!/bin/sh\n" +
		"while [ $# -gt 0 ]; do\n" +
		"  if [ \"$1\" = --config-file ]; then cp \"$2\" \"$STUB_OUT/$(basename \"$2\")\"; fi\n" +
		"  shift\n" +
		"done\n"
	require.NoError(t, os.WriteFile(filepath.Join(stubDir, "confluent"), []byte(stub), 0o755))

	run := func(env map[string]string) (string, error) {
		cmd := exec.Command(bash, script)
		cmd.Env = []string{"PATH=" + stubDir + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + t.TempDir(), "STUB_OUT=" + outDir}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	noValues := func(output string) {
		for name, v := range values {
			assert.NotContains(t, output, v, "deploy.sh printed the value of %s", name)
		}
	}

	// one variable missing: named, nothing created
	var names []string
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	partial := map[string]string{}
	for _, k := range names[1:] {
		partial[k] = values[k]
	}
	output, err := run(partial)
	assert.Error(t, err, "deploy.sh must fail when %s is not set", names[0])
	assert.Contains(t, output, names[0])
	noValues(output)
	created, _ := os.ReadDir(outDir)
	assert.Empty(t, created, "nothing may be created while a variable is missing")

	// all set: every file rendered, values exact
	output, err = run(values)
	require.NoError(t, err, output)
	noValues(output)
	for _, f := range files {
		rendered := loadFile(t, filepath.Join(outDir, filepath.Base(f.path)))
		assert.Equal(t, f.name, rendered.name)
		for k, v := range f.config {
			want := cloud.placeholder.ReplaceAllStringFunc(v, func(ph string) string {
				return values[cloud.placeholder.FindStringSubmatch(ph)[1]]
			})
			assert.Equal(t, want, rendered.config[k], "%s: %q", f.path, k)
		}
		assert.Len(t, rendered.config, len(f.config))
	}
}

// --- SMT chains ---------------------------------------------------------------

const (
	typeUnwrap           = "io.debezium.transforms.ExtractNewRecordState"
	typeValueToKey       = "org.apache.kafka.connect.transforms.ValueToKey"
	typeExtractFieldKey  = "org.apache.kafka.connect.transforms.ExtractField$Key"
	typeHoistFieldKey    = "org.apache.kafka.connect.transforms.HoistField$Key"
	typeMaskValue        = "org.apache.kafka.connect.transforms.MaskField$Value"
	typeSetSchemaValue   = "org.apache.kafka.connect.transforms.SetSchemaMetadata$Value"
	typeRegexRouter      = "org.apache.kafka.connect.transforms.RegexRouter"
	typeTopicRegexRouter = "io.confluent.connect.cloud.transforms.TopicRegexRouter"
	typeIsTombstone      = "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"
)

type smt struct {
	alias, typ string
	props      map[string]string // transforms.<alias>.<prop>, without the prefix; type included
}

// chain returns the transforms of f in order, and fails on an alias without a
// type or a transforms.<alias>.* setting of an alias that is not in the list.
func chain(t *testing.T, f connectorFile) []smt {
	t.Helper()
	return aliases(t, f, "transforms")
}

// predicates returns predicate alias -> type.
func predicates(t *testing.T, f connectorFile) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range aliases(t, f, "predicates") {
		out[p.alias] = p.typ
	}
	for _, s := range chain(t, f) {
		if name := s.props["predicate"]; name != "" {
			_, ok := out[name]
			assert.True(t, ok, "%s: transform %s uses predicate %q, which is not in predicates", f.path, s.alias, name)
		}
	}
	return out
}

func aliases(t *testing.T, f connectorFile, list string) []smt {
	t.Helper()
	var out []smt
	listed := map[string]bool{}
	for _, alias := range splitList(f.config[list]) {
		assert.False(t, listed[alias], "%s: %s lists %q twice", f.path, list, alias)
		listed[alias] = true
		s := smt{alias: alias, props: map[string]string{}}
		for k, v := range f.config {
			if rest, ok := strings.CutPrefix(k, list+"."+alias+"."); ok {
				s.props[rest] = v
			}
		}
		s.typ = s.props["type"]
		assert.NotEmpty(t, s.typ, "%s: %s.%s.type is missing", f.path, list, alias)
		out = append(out, s)
	}
	for k := range f.config {
		if rest, ok := strings.CutPrefix(k, list+"."); ok {
			alias, _, _ := strings.Cut(rest, ".")
			assert.True(t, listed[alias], "%s: %q configures %q, which is not in %s", f.path, k, alias, list)
		}
	}
	return out
}

// --- ddl.sql and .avsc ----------------------------------------------------

type ddlTable struct {
	columns    []string
	primaryKey []string
}

type ddlInfo struct {
	databases []string
	tables    map[string]ddlTable
}

var (
	sqlComment  = regexp.MustCompile(`--[^\n]*`)
	createDB    = regexp.MustCompile("(?i)CREATE\\s+DATABASE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?`?(\\w+)`?")
	createTable = regexp.MustCompile("(?is)CREATE\\s+TABLE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?`?(\\w+)`?\\s*\\((.*?)\\)\\s*ENGINE")
	columnLine  = regexp.MustCompile("^`?([A-Za-z_][A-Za-z0-9_]*)`?\\s+[A-Za-z]")
	primaryKey  = regexp.MustCompile(`(?i)PRIMARY\s+KEY\s*\(([^)]*)\)`)
	notAColumn  = map[string]bool{"PRIMARY": true, "UNIQUE": true, "KEY": true, "INDEX": true, "CONSTRAINT": true, "CHECK": true, "FOREIGN": true, "FULLTEXT": true, "SPATIAL": true}
	ddlPath     = filepath.Join("..", "database", "ddl.sql")
)

func parseDDL(t *testing.T) ddlInfo {
	t.Helper()
	data, err := os.ReadFile(ddlPath)
	require.NoError(t, err)
	sql := sqlComment.ReplaceAllString(string(data), "")
	info := ddlInfo{tables: map[string]ddlTable{}}
	for _, m := range createDB.FindAllStringSubmatch(sql, -1) {
		info.databases = append(info.databases, m[1])
	}
	for _, m := range createTable.FindAllStringSubmatch(sql, -1) {
		var tbl ddlTable
		for _, line := range strings.Split(m[2], "\n") {
			line = strings.TrimSpace(line)
			c := columnLine.FindStringSubmatch(line)
			if c == nil || notAColumn[strings.ToUpper(c[1])] {
				continue
			}
			tbl.columns = append(tbl.columns, c[1])
		}
		if pk := primaryKey.FindStringSubmatch(m[2]); pk != nil {
			for _, c := range strings.Split(pk[1], ",") {
				tbl.primaryKey = append(tbl.primaryKey, strings.Trim(strings.TrimSpace(c), "`"))
			}
		}
		require.NotEmpty(t, tbl.columns, "no columns parsed for table %s", m[1])
		info.tables[m[1]] = tbl
	}
	require.NotEmpty(t, info.tables, "no CREATE TABLE parsed from %s", ddlPath)
	return info
}

type avroRecord struct {
	fullName string
	fields   []string
}

func parseAvro(t *testing.T, schema string) avroRecord {
	t.Helper()
	var s struct {
		Type      string `json:"type"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		Fields    []struct {
			Name string `json:"name"`
		} `json:"fields"`
	}
	require.NoError(t, json.Unmarshal([]byte(schema), &s))
	require.Equal(t, "record", s.Type)
	rec := avroRecord{fullName: s.Name}
	if !strings.Contains(s.Name, ".") && s.Namespace != "" {
		rec.fullName = s.Namespace + "." + s.Name
	}
	for _, f := range s.Fields {
		rec.fields = append(rec.fields, f.Name)
	}
	return rec
}

// --- small helpers ----------------------------------------------------------

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func lastDot(s string) string {
	return s[strings.LastIndex(s, ".")+1:]
}
