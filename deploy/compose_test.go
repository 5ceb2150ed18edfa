// Package deploy_test checks the wiring of docker-compose.yml, the Dockerfile
// and the scripts in deploy/ without Docker. docker-compose.yml is loaded by
// compose-spec/compose-go, the loader of `docker compose` itself, and then
// checked: service names, images, ports,
// healthchecks, depends_on, the Go services' environment against the flags of
// the binaries they run, Kafka's listeners, the Kafka Connect configs in
// connectors/connect against the services and the connect worker's
// environment, the MySQL init files and binlog settings; and it runs
// deploy/connect-init.sh and deploy/connect-watchdog.sh against a fake Connect
// REST API (connectors/connect_test.go runs them against a real worker).
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"

	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

const (
	root        = ".."
	composeFile = "../docker-compose.yml"
	dockerfile  = "../Dockerfile"
	connectDir  = "../connectors/connect"

	// The image every Go service runs; the binary is /usr/local/bin/<name>.
	binDir = "/usr/local/bin/"
	// What compose runs with `docker compose --profile go-connectors ...`.
	goConnectorsProfile = "go-connectors"
)

// The Go services compose must run, every row of services.Table, and the
// profile each is in ("" = default): a connector with a Kafka Connect
// counterpart runs only instead of it, under the go-connectors profile.
var goServices = func() map[string]string {
	out := map[string]string{}
	for _, s := range services.Table {
		out[s.Name] = ""
		if s.Replaces != "" {
			out[s.Name] = goConnectorsProfile
		}
	}
	return out
}()

// ---------------------------------------------------------------------------
// Loading: docker-compose.yml as Docker Compose reads it, with
// compose-spec/compose-go (the loader of `docker compose`): YAML anchors and
// merge keys, interpolation, the Compose schema (an unknown key such as
// depend_on is an error), defaults and normalisation, consistency checks
// (undeclared volumes, depends_on a service that does not exist). Every
// profile is enabled, so the go-connectors services are checked too. No
// process environment and no .env are given: the file must work without.

// service is a compose service with its environment as plain strings.
type service struct {
	types.ServiceConfig
	env map[string]string
}

type compose struct {
	Name     string // the file's own top-level name ("" if it has none)
	Services map[string]*service
	Volumes  types.Volumes
}

var (
	loadOnce sync.Once
	loaded   *compose
	loadErr  error
	rootAbs  = func() string { abs, _ := filepath.Abs(root); return abs }()
)

func load(t *testing.T) *compose {
	t.Helper()
	loadOnce.Do(func() { loaded, loadErr = loadCompose(composeFile) })
	if loadErr != nil {
		t.Fatalf("%s: %v", composeFile, loadErr)
	}
	return loaded
}

// unsetVariables collects compose-go's warnings about variables that are
// not set and have no default (it substitutes "" for them, as Docker does).
type unsetVariables struct {
	mu   sync.Mutex
	msgs []string
}

func (h *unsetVariables) Levels() []logrus.Level { return []logrus.Level{logrus.WarnLevel} }
func (h *unsetVariables) Fire(e *logrus.Entry) error {
	if strings.Contains(e.Message, "variable is not set") {
		h.mu.Lock()
		h.msgs = append(h.msgs, e.Message)
		h.mu.Unlock()
	}
	return nil
}

var logrusMu sync.Mutex // the hooks are global

func loadCompose(file string) (*compose, error) {
	logrusMu.Lock()
	defer logrusMu.Unlock()
	unset := &unsetVariables{}
	std := logrus.StandardLogger()
	saved, savedOut := std.ReplaceHooks(logrus.LevelHooks{}), std.Out
	std.AddHook(unset)
	std.SetOutput(io.Discard)
	defer func() { std.ReplaceHooks(saved); std.SetOutput(savedOut) }()

	ctx := context.Background()
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(root), cli.WithProfiles([]string{"*"}), cli.WithResolvedPaths(true))
	if err != nil {
		return nil, err
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	if len(unset.msgs) > 0 {
		return nil, fmt.Errorf("%s: give each a default (${NAME:-value}) so that the file works without a .env", strings.Join(unset.msgs, "; "))
	}
	model, err := opts.LoadModel(ctx)
	if err != nil {
		return nil, err
	}
	c := &compose{Services: map[string]*service{}, Volumes: p.Volumes}
	c.Name, _ = model["name"].(string)
	if len(p.Services) == 0 {
		return nil, fmt.Errorf("no services")
	}
	for name, sc := range p.Services {
		s := &service{ServiceConfig: sc, env: map[string]string{}}
		for k, v := range sc.Environment {
			if v == nil {
				return nil, fmt.Errorf("service %s: environment %s has no value (it would come from the host)", name, k)
			}
			s.env[k] = *v
		}
		c.Services[name] = s
	}
	return c, nil
}

// ---------------------------------------------------------------------------
// Helpers over the project.

func (c *compose) names() []string {
	var n []string
	for k := range c.Services {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func (c *compose) mustService(t *testing.T, name string) *service {
	t.Helper()
	s := c.Services[name]
	if s == nil {
		t.Fatalf("no service %q in docker-compose.yml (services: %v); the connector configs and the Go services address it by that name", name, c.names())
	}
	return s
}

// oneShot: a container that runs to completion (restart "no").
func (s *service) oneShot() bool { return s.Restart == types.RestartPolicyNo }

// builtHere: the service runs the image of ./Dockerfile.
func (s *service) builtHere() bool {
	if s.Build == nil {
		return false
	}
	df := s.Build.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	return filepath.Clean(s.Build.Context) == rootAbs && (filepath.Clean(df) == "Dockerfile" || filepath.Clean(df) == filepath.Join(rootAbs, "Dockerfile"))
}

// containerPorts are the ports the service's container listens on that compose publishes.
func (s *service) containerPorts() []string {
	var p []string
	for _, port := range s.Ports {
		p = append(p, strconv.Itoa(int(port.Target)))
	}
	return p
}

// target is a published port's container port.
func target(p types.ServicePortConfig) string { return strconv.Itoa(int(p.Target)) }

func portString(p types.ServicePortConfig) string {
	return fmt.Sprintf("%s:%d/%s", p.Published, p.Target, p.Protocol)
}

// bind reports whether the mount is a host path (not a named volume).
func bind(m types.ServiceVolumeConfig) bool { return m.Type == types.VolumeTypeBind }

// repoPath is a bind mount's source relative to the repository ("" for a
// named volume; starting with .. when outside it).
func repoPath(m types.ServiceVolumeConfig) string {
	if !bind(m) {
		return ""
	}
	rel, err := filepath.Rel(rootAbs, m.Source)
	if err != nil {
		return m.Source
	}
	return filepath.ToSlash(rel)
}

// healthArgs is the healthcheck command and whether it runs through a shell.
func healthArgs(h *types.HealthCheckConfig) (args []string, shell bool) {
	t := h.Test
	if len(t) == 0 {
		return nil, false
	}
	switch t[0] {
	case "CMD":
		return t[1:], false
	case "CMD-SHELL":
		return t[1:], true
	}
	return t, false
}

// hostPort splits "host:port" and checks the port is a number.
func hostPort(t *testing.T, what, s string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		t.Fatalf("%s: %q is not host:port: %v", what, s, err)
	}
	if _, err := strconv.Atoi(p); err != nil {
		t.Fatalf("%s: port of %q is not a number", what, s)
	}
	return h, p
}

type listener struct{ name, host, port string }

func parseListeners(t *testing.T, what, s string) []listener {
	t.Helper()
	var out []listener
	for _, l := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
		if !ok {
			t.Fatalf("kafka %s: %q is not NAME://host:port", what, l)
		}
		h, p := hostPort(t, "kafka "+what, addr)
		out = append(out, listener{name, h, p})
	}
	return out
}

// kafkaInternal returns the address containers use: the advertised listener
// whose host is the kafka service's name.
func kafkaInternal(t *testing.T, c *compose) string {
	t.Helper()
	k := c.mustService(t, "kafka")
	for _, l := range parseListeners(t, "KAFKA_ADVERTISED_LISTENERS", k.env["KAFKA_ADVERTISED_LISTENERS"]) {
		if l.host == "kafka" {
			return net.JoinHostPort(l.host, l.port)
		}
	}
	t.Fatalf("kafka: no advertised listener on host kafka (the service name) in KAFKA_ADVERTISED_LISTENERS=%q", k.env["KAFKA_ADVERTISED_LISTENERS"])
	return ""
}

// registryURL is what containers use to reach the schema registry.
func registryURL(t *testing.T, c *compose) string {
	t.Helper()
	sr := c.mustService(t, "schema-registry")
	u, err := url.Parse(sr.env["SCHEMA_REGISTRY_LISTENERS"])
	if err != nil || u.Port() == "" {
		t.Fatalf("schema-registry: SCHEMA_REGISTRY_LISTENERS=%q is not http://host:port", sr.env["SCHEMA_REGISTRY_LISTENERS"])
	}
	return "http://schema-registry:" + u.Port()
}

// ---------------------------------------------------------------------------
// The tests.

func TestComposeParses(t *testing.T) {
	c := load(t)
	if c.Name == "" {
		t.Errorf("no top-level name: the project (and its volumes) would be named after the checkout's directory")
	}
	for _, want := range []string{"kafka", "schema-registry", "connect-plugins", "connect", "connect-watchdog", "mysql", "mongodb"} {
		c.mustService(t, want)
	}
	for name, profile := range goServices {
		s := c.mustService(t, name)
		var want []string
		if profile != "" {
			want = []string{profile}
		}
		if !slices.Equal(s.Profiles, want) {
			t.Errorf("service %s: profiles %v, want %v", name, s.Profiles, want)
		}
	}
	for _, name := range c.names() {
		s := c.Services[name]
		for _, p := range s.Profiles {
			if p != goConnectorsProfile {
				t.Errorf("service %s: profile %q: the only profile documented is %q", name, p, goConnectorsProfile)
			}
		}
	}
	// The top comment documents both ways to run.
	raw, _ := os.ReadFile(composeFile)
	for _, want := range []string{"docker compose up", "--profile " + goConnectorsProfile, "--scale connect=0", "--scale connect-watchdog=0"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("docker-compose.yml's comments do not show %q", want)
		}
	}
}

func TestImagesPinned(t *testing.T) {
	c := load(t)
	for _, name := range c.names() {
		s := c.Services[name]
		if s.Build != nil {
			if !s.builtHere() {
				t.Errorf("service %s: build context %s, dockerfile %s: only ./Dockerfile with context . is expected", name, s.Build.Context, s.Build.Dockerfile)
			}
			if s.Image != "" && imageTag(s.Image) == "" {
				t.Errorf("service %s: built image named %q without a tag", name, s.Image)
			}
			continue
		}
		if s.Image == "" {
			t.Errorf("service %s: neither image nor build", name)
			continue
		}
		if strings.Contains(s.Image, "@sha256:") {
			continue
		}
		switch tag := imageTag(s.Image); tag {
		case "":
			t.Errorf("service %s: image %q has no tag (that is :latest): pin a version", name, s.Image)
		case "latest", "stable", "edge", "nightly":
			t.Errorf("service %s: image %q: pin a version, not %q", name, s.Image, tag)
		}
	}
	// The versions this stack was written for (README, connectors/README.md).
	for svc, want := range map[string]string{
		"kafka":            "apache/kafka:4.1.1",
		"schema-registry":  "confluentinc/cp-schema-registry:7.9.2",
		"connect-plugins":  "maven:3.9.9-eclipse-temurin-17",
		"connect":          "confluentinc/cp-kafka-connect:8.1.0",
		"mysql":            "mysql:8.4.6",
		"mongodb":          "mongo:7.0.14",
		"connect-watchdog": "curlimages/curl:8.10.1",
	} {
		if s := c.Services[svc]; s != nil && s.Image != want {
			t.Errorf("service %s: image %q, want %q", svc, s.Image, want)
		}
	}
}

func imageTag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	last := ref[strings.LastIndex(ref, "/")+1:]
	if _, tag, ok := strings.Cut(last, ":"); ok {
		return tag
	}
	return ""
}

func TestHealthchecksAndRestart(t *testing.T) {
	c := load(t)
	for _, name := range c.names() {
		s := c.Services[name]
		switch {
		case s.Restart == "":
			t.Errorf("service %s: no restart policy: say \"no\" for a one-shot container, unless-stopped for the rest", name)
		case s.oneShot():
			if s.HealthCheck != nil && !s.HealthCheck.Disable {
				t.Errorf("service %s: a one-shot container (restart \"no\") with a healthcheck", name)
			}
			continue
		case s.Restart != "unless-stopped" && s.Restart != "always" && !strings.HasPrefix(s.Restart, "on-failure"):
			t.Errorf("service %s: restart %q is not a Compose restart policy", name, s.Restart)
		}
		h := s.HealthCheck
		if h == nil || h.Disable {
			t.Errorf("service %s: long-running without a healthcheck: nothing can wait for it (condition: service_healthy)", name)
			continue
		}
		args, _ := healthArgs(h)
		if len(args) == 0 || args[0] == "NONE" {
			t.Errorf("service %s: healthcheck has no command: %v", name, h.Test)
		}
		// (compose-go has parsed the durations: a bad one fails the load.)
		for what, d := range map[string]*types.Duration{"interval": h.Interval, "timeout": h.Timeout} {
			if d == nil {
				t.Errorf("service %s: healthcheck %s not set (Docker's default is 30s)", name, what)
			}
		}
		if h.Retries == nil || *h.Retries < 1 {
			t.Errorf("service %s: healthcheck retries not set or 0", name)
		}
	}
}

func TestDependsOn(t *testing.T) {
	c := load(t)
	for _, name := range c.names() {
		s := c.Services[name]
		for dep, d := range s.DependsOn {
			target := c.Services[dep]
			if target == nil {
				t.Errorf("service %s depends on %q, which is not a service (services: %v)", name, dep, c.names())
				continue
			}
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if target.HealthCheck == nil || target.HealthCheck.Disable {
					t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if !target.oneShot() {
					t.Errorf("service %s waits for %s to complete, but %s is long-running (restart %q)", name, dep, dep, target.Restart)
				}
			default:
				t.Errorf("service %s depends on %s with condition %q: use service_healthy (or service_completed_successfully for a one-shot): service_started does not wait for it to work", name, dep, d.Condition)
			}
			if len(target.Profiles) > 0 && !slices.Equal(target.Profiles, s.Profiles) {
				t.Errorf("service %s (profiles %v) depends on %s, which runs only with profiles %v", name, s.Profiles, dep, target.Profiles)
			}
		}
	}
	// No cycles.
	state := map[string]int{}
	var visit func(n string, stack []string)
	visit = func(n string, stack []string) {
		switch state[n] {
		case 1:
			t.Errorf("depends_on cycle: %s -> %s", strings.Join(stack, " -> "), n)
			return
		case 2:
			return
		}
		state[n] = 1
		if s := c.Services[n]; s != nil {
			for _, d := range sortedKeys(s.DependsOn) {
				visit(d, append(stack, n))
			}
		}
		state[n] = 2
	}
	for _, n := range c.names() {
		visit(n, nil)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func TestPortsUnique(t *testing.T) {
	c := load(t)
	seen := map[string]string{}
	for _, name := range c.names() {
		for _, p := range c.Services[name].Ports {
			if p.Published == "" {
				t.Errorf("service %s: port %q publishes on a random host port: give it one", name, portString(p))
				continue
			}
			if _, err := strconv.Atoi(p.Published); err != nil {
				t.Errorf("service %s: port %q: host port %q is not a number (ranges are not expected here)", name, portString(p), p.Published)
			}
			if p.Target == 0 {
				t.Errorf("service %s: port %q: no container port", name, portString(p))
			}
			key := p.Published + "/" + p.Protocol
			if other, dup := seen[key]; dup {
				t.Errorf("host port %s is published by both %s and %s", key, other, name)
			}
			seen[key] = name
		}
	}
}

func TestVolumes(t *testing.T) {
	c := load(t)
	used := map[string]bool{}
	for _, name := range c.names() {
		for _, m := range c.Services[name].Volumes {
			if m.Target == "" || !strings.HasPrefix(m.Target, "/") {
				t.Errorf("service %s: volume %q: target is not an absolute path", name, m.String())
			}
			switch {
			case m.Source == "":
				t.Errorf("service %s: anonymous volume %q: name it so that the data survives `compose down`", name, m.String())
			case bind(m):
				if rel := repoPath(m); rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
					t.Errorf("service %s: bind mount %q of a path outside the repository", name, m.String())
					continue
				}
				if _, err := os.Stat(m.Source); err != nil {
					t.Errorf("service %s: bind mount %q: %v", name, m.String(), err)
				}
				if !m.ReadOnly {
					t.Errorf("service %s: bind mount %q of the repository is writable: add :ro", name, m.String())
				}
			default:
				used[m.Source] = true
				if _, ok := c.Volumes[m.Source]; !ok {
					t.Errorf("service %s: named volume %q is not declared under the top-level volumes", name, m.Source)
				}
			}
		}
	}
	for v := range c.Volumes {
		if !used[v] {
			t.Errorf("volume %q is declared but no service mounts it", v)
		}
	}
	for svc, dir := range map[string]string{"kafka": "/var/lib/kafka/data", "mysql": "/var/lib/mysql", "mongodb": "/data/db"} {
		s := c.mustService(t, svc)
		if !slices.ContainsFunc(s.Volumes, func(m types.ServiceVolumeConfig) bool { return m.Target == dir && !bind(m) && m.Source != "" }) {
			t.Errorf("service %s: no named volume on its data directory %s", svc, dir)
		}
	}
	if k := c.mustService(t, "kafka"); k.env["KAFKA_LOG_DIRS"] != "/var/lib/kafka/data" {
		t.Errorf("kafka: KAFKA_LOG_DIRS=%q, want the volume /var/lib/kafka/data", k.env["KAFKA_LOG_DIRS"])
	}
}

func TestKafka(t *testing.T) {
	c := load(t)
	k := c.mustService(t, "kafka")
	env := k.env
	for _, req := range []string{"KAFKA_NODE_ID", "KAFKA_PROCESS_ROLES", "KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "KAFKA_INTER_BROKER_LISTENER_NAME", "KAFKA_CONTROLLER_LISTENER_NAMES",
		"KAFKA_CONTROLLER_QUORUM_VOTERS", "CLUSTER_ID"} {
		if env[req] == "" {
			t.Errorf("kafka: %s not set", req)
		}
	}
	if !slices.Equal(splitComma(env["KAFKA_PROCESS_ROLES"]), []string{"broker", "controller"}) {
		t.Errorf("kafka: KAFKA_PROCESS_ROLES=%q, want broker,controller (one KRaft node)", env["KAFKA_PROCESS_ROLES"])
	}
	if id, err := base64.RawURLEncoding.DecodeString(env["CLUSTER_ID"]); err != nil || len(id) != 16 {
		t.Errorf("kafka: CLUSTER_ID=%q is not a base64url UUID (16 bytes, 22 characters): kafka-storage format refuses it", env["CLUSTER_ID"])
	}
	for _, rf := range []string{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"} {
		if env[rf] != "1" {
			t.Errorf("kafka: %s=%q, want 1 on a single broker", rf, env[rf])
		}
	}
	if v := env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]; v != "" && v != "true" {
		t.Errorf("kafka: KAFKA_AUTO_CREATE_TOPICS_ENABLE=%q, want true", v)
	}

	bound := map[string]listener{}
	for _, l := range parseListeners(t, "KAFKA_LISTENERS", env["KAFKA_LISTENERS"]) {
		bound[l.name] = l
	}
	protocols := map[string]string{}
	for _, kv := range splitComma(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]) {
		n, p, _ := strings.Cut(kv, ":")
		protocols[n] = p
	}
	for n := range bound {
		if protocols[n] == "" {
			t.Errorf("kafka: listener %s has no entry in KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", n)
		}
	}
	advertised := parseListeners(t, "KAFKA_ADVERTISED_LISTENERS", env["KAFKA_ADVERTISED_LISTENERS"])
	var internal, host *listener
	for i, l := range advertised {
		b, ok := bound[l.name]
		if !ok {
			t.Errorf("kafka: advertised listener %s is not in KAFKA_LISTENERS", l.name)
			continue
		}
		if b.port != l.port {
			t.Errorf("kafka: listener %s is bound on port %s but advertised on %s", l.name, b.port, l.port)
		}
		switch l.host {
		case "kafka":
			internal = &advertised[i]
		case "localhost", "127.0.0.1":
			host = &advertised[i]
		default:
			t.Errorf("kafka: advertised listener %s host %q is neither the service name nor localhost", l.name, l.host)
		}
	}
	if internal == nil {
		t.Fatalf("kafka: no advertised listener kafka:<port> for the other containers")
	}
	if host == nil {
		t.Errorf("kafka: no advertised listener localhost:<port> for the host")
	} else if !slices.ContainsFunc(k.Ports, func(p types.ServicePortConfig) bool { return p.Published == host.port && target(p) == host.port }) {
		t.Errorf("kafka: the host listener localhost:%s is not published as %s:%s (a client on the host is sent there)", host.port, host.port, host.port)
	}
	if slices.ContainsFunc(k.Ports, func(p types.ServicePortConfig) bool { return target(p) == internal.port }) {
		t.Errorf("kafka: the internal listener's port %s is published: a host client would be sent to kafka:%s, which it cannot resolve", internal.port, internal.port)
	}
	if env["KAFKA_INTER_BROKER_LISTENER_NAME"] != internal.name {
		t.Errorf("kafka: KAFKA_INTER_BROKER_LISTENER_NAME=%q, want the internal listener %s", env["KAFKA_INTER_BROKER_LISTENER_NAME"], internal.name)
	}
	ctrl := env["KAFKA_CONTROLLER_LISTENER_NAMES"]
	cl, ok := bound[ctrl]
	if !ok {
		t.Errorf("kafka: controller listener %q is not in KAFKA_LISTENERS", ctrl)
	}
	if slices.ContainsFunc(advertised, func(l listener) bool { return l.name == ctrl }) {
		t.Errorf("kafka: the controller listener %s must not be advertised", ctrl)
	}
	voters := splitComma(env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
	if len(voters) != 1 {
		t.Errorf("kafka: KAFKA_CONTROLLER_QUORUM_VOTERS=%q, want the one node", env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
	} else {
		id, addr, _ := strings.Cut(voters[0], "@")
		h, p := hostPort(t, "KAFKA_CONTROLLER_QUORUM_VOTERS", addr)
		if id != env["KAFKA_NODE_ID"] || h != "kafka" || p != cl.port {
			t.Errorf("kafka: KAFKA_CONTROLLER_QUORUM_VOTERS=%q, want %s@kafka:%s", voters[0], env["KAFKA_NODE_ID"], cl.port)
		}
	}
	// The healthcheck asks a listener of this broker.
	if k.HealthCheck != nil {
		args, _ := healthArgs(k.HealthCheck)
		i := slices.Index(args, "--bootstrap-server")
		if i < 0 || i+1 >= len(args) {
			t.Errorf("kafka: healthcheck %v does not name --bootstrap-server", args)
		} else if h, p := hostPort(t, "kafka healthcheck", args[i+1]); !slices.ContainsFunc(advertised, func(l listener) bool {
			return l.port == p && (l.host == h || h == "localhost" || h == "127.0.0.1")
		}) {
			t.Errorf("kafka: healthcheck bootstrap %s is not one of the broker's listeners", args[i+1])
		}
	}

	// Everything that talks to Kafka from a container uses the internal listener.
	want := internal.host + ":" + internal.port
	check := func(who, got string) {
		t.Helper()
		for _, b := range splitComma(got) {
			b = strings.TrimPrefix(b, "PLAINTEXT://")
			if b != want {
				t.Errorf("%s: bootstrap %q, want kafka's internal listener %s", who, got, want)
			}
		}
	}
	for name := range goServices {
		if s := c.Services[name]; s != nil {
			check(name+" BOOTSTRAP_SERVERS", s.env["BOOTSTRAP_SERVERS"])
		}
	}
	check("schema-registry SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS", c.mustService(t, "schema-registry").env["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"])
	check("connect CONNECT_BOOTSTRAP_SERVERS", c.mustService(t, "connect").env["CONNECT_BOOTSTRAP_SERVERS"])
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// The Go services against the binaries' flags.

type flagInfo struct {
	name, env, typ, def string
}

// flagsOf returns the flags of the service's binary by environment
// variable: the flag set services.Main parses, read in process.
func flagsOf(t *testing.T, name string) map[string]flagInfo {
	t.Helper()
	svc, ok := services.Lookup(name)
	if !ok {
		t.Fatalf("no service %q in services.Table", name)
	}
	_, fs := frame.NewFlags(svc.Name, svc.About, svc.HTTPAddr)
	svc.New().RegisterFlags(fs)
	flags := map[string]flagInfo{}
	fs.VisitAll(func(f *flag.Flag) {
		typ, _ := flag.UnquoteUsage(f)
		def := f.DefValue // what --help shows as the default: not "", false or 0
		if def == "false" || def == "0" {
			def = ""
		}
		if m := flagDefault.FindStringSubmatch(f.Usage); m != nil && def == "" {
			def, _ = strconv.Unquote(`"` + m[1] + `"`) // topic flags name their default in the usage
		}
		flags[config.EnvName(f.Name)] = flagInfo{name: f.Name, env: config.EnvName(f.Name), typ: typ, def: def}
	})
	return flags
}

var flagDefault = regexp.MustCompile(`\(default "((?:[^"\\]|\\.)*)"\)\s*$`)

func TestGoServices(t *testing.T) {
	c := load(t)
	var builtNames []string
	for _, name := range c.names() {
		if c.Services[name].builtHere() {
			builtNames = append(builtNames, name)
		}
	}
	if !slices.Equal(builtNames, sortedKeys(goServices)) {
		t.Errorf("services built from ./Dockerfile: %v, want %v", builtNames, sortedKeys(goServices))
	}
	users := usersSQL(t)
	mysqlPort := ""
	if m := c.Services["mysql"]; m != nil && len(m.containerPorts()) > 0 {
		mysqlPort = m.containerPorts()[0]
	}

	for _, name := range sortedKeys(goServices) {
		s := c.Services[name]
		if s == nil {
			t.Errorf("no service %s", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			if !s.builtHere() {
				t.Fatalf("not built from ./Dockerfile")
			}
			// command: the binary (Compose runs it without a shell; the image has none).
			if len(s.Command) == 0 {
				t.Fatalf("command %v: want [\"%s<binary>\", flags...]", s.Command, binDir)
			}
			if len(s.Entrypoint) > 0 {
				t.Errorf("entrypoint %v: the command alone picks the binary", s.Entrypoint)
			}
			bin := strings.TrimPrefix(s.Command[0], binDir)
			if bin == s.Command[0] || strings.Contains(bin, "/") {
				t.Fatalf("command %q: want %s<binary>", s.Command[0], binDir)
			}
			if bin != name {
				t.Errorf("service %s runs %s: service and binary names differ", name, bin)
			}
			if _, err := os.Stat(filepath.Join(root, "cmd", bin, "main.go")); err != nil {
				t.Fatalf("command %s: no cmd/%s/main.go", bin, bin)
			}
			flags := flagsOf(t, bin)

			// Every variable is a flag of the binary, with a value of its type.
			for _, k := range sortedKeys(s.env) {
				v := s.env[k]
				f, ok := flags[k]
				if !ok {
					t.Errorf("environment %s is not a flag of %s (a typo, or a flag that was renamed): it would be ignored; %s's variables: %v", k, bin, bin, sortedKeys(flags))
					continue
				}
				if err := checkValue(f, v); err != nil {
					t.Errorf("environment %s=%q: --%s: %v", k, v, f.name, err)
				}
			}
			for _, req := range []string{"BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "HTTP_ADDR", "REPLICATION_FACTOR"} {
				if _, ok := s.env[req]; !ok {
					t.Errorf("environment %s not set", req)
				}
			}
			if s.env["REPLICATION_FACTOR"] != "" && s.env["REPLICATION_FACTOR"] != "1" {
				t.Errorf("REPLICATION_FACTOR=%s on a single broker", s.env["REPLICATION_FACTOR"])
			}
			if got, want := s.env["SCHEMA_REGISTRY_URL"], registryURL(t, c); got != want {
				t.Errorf("SCHEMA_REGISTRY_URL=%q, want %q", got, want)
			}

			// HTTP_ADDR: all interfaces, the service's default port, published, checked.
			h, port := hostPort(t, "HTTP_ADDR", s.env["HTTP_ADDR"])
			if h != "0.0.0.0" && h != "" {
				t.Errorf("HTTP_ADDR=%q: listen on 0.0.0.0, or the published port reaches nothing", s.env["HTTP_ADDR"])
			}
			if def := flags["HTTP_ADDR"].def; def != "" {
				if _, dp := hostPort(t, bin+" default http.addr", def); dp != port {
					t.Errorf("HTTP_ADDR port %s, but %s's default is %s (%s): keep the documented port", port, bin, dp, def)
				}
			}
			if !slices.ContainsFunc(s.Ports, func(p types.ServicePortConfig) bool { return target(p) == port && p.Published == port }) {
				t.Errorf("HTTP_ADDR port %s is not published as \"%s:%s\" (ports %v)", port, port, port, s.Ports)
			}
			for _, p := range s.Ports {
				if target(p) != port {
					t.Errorf("port %q: %s listens only on %s", portString(p), bin, port)
				}
			}
			if s.HealthCheck == nil {
				t.Fatalf("no healthcheck")
			}
			args, shell := healthArgs(s.HealthCheck)
			if shell {
				t.Errorf("healthcheck %v runs a shell: the distroless image has none; use [\"CMD\", \"%shealthcheck\", URL]", s.HealthCheck.Test, binDir)
			}
			if len(args) != 2 || args[0] != binDir+"healthcheck" {
				t.Errorf("healthcheck %v: want [\"CMD\", \"%shealthcheck\", \"http://127.0.0.1:%s/readyz\"]", s.HealthCheck.Test, binDir, port)
			} else {
				u, err := url.Parse(args[1])
				if err != nil || u.Scheme != "http" || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") || u.Port() != port || u.Path != "/readyz" {
					t.Errorf("healthcheck URL %q: want http://127.0.0.1:%s/readyz (HTTP_ADDR %s)", args[1], port, s.env["HTTP_ADDR"])
				}
			}

			// The addresses in the environment are services, waited for.
			needs := map[string]bool{"kafka": true, "schema-registry": true}
			if dsn, ok := s.env["MYSQL_DSN"]; ok {
				needs["mysql"] = true
				cfg, err := mysql.ParseDSN(dsn)
				if err != nil {
					t.Errorf("MYSQL_DSN=%q: %v", dsn, err)
				} else {
					host, p := hostPort(t, "MYSQL_DSN address", cfg.Addr)
					if host != "mysql" || (mysqlPort != "" && p != mysqlPort) {
						t.Errorf("MYSQL_DSN address %s, want mysql:%s", cfg.Addr, mysqlPort)
					}
					if cfg.Net != "tcp" {
						t.Errorf("MYSQL_DSN protocol %q, want tcp", cfg.Net)
					}
					// go-sql-driver sends every parameter it does not know as
					// `SET name = value` after connecting: a Connector/J option
					// such as allowPublicKeyRetrieval fails every connection
					// (Error 1193, unknown system variable). MySQL's system
					// variables are lower_snake_case.
					for k := range cfg.Params {
						if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(k) {
							t.Errorf("MYSQL_DSN parameter %q is not a go-sql-driver option: the driver would run `SET %s = ...` on every connection and MySQL would refuse it (caching_sha2_password over plain TCP needs no option: the driver fetches the server's RSA key itself)", k, k)
						}
					}
					if pw, ok := users[cfg.User]; !ok {
						t.Errorf("MYSQL_DSN user %q is not created by database/users.sql (users: %v)", cfg.User, sortedKeys(users))
					} else if pw != cfg.Passwd {
						t.Errorf("MYSQL_DSN password of %s is not the one database/users.sql sets", cfg.User)
					}
					if cfg.DBName != "shop" {
						t.Errorf("MYSQL_DSN database %q, want shop", cfg.DBName)
					}
				}
			}
			if uri, ok := s.env["MONGODB_URI"]; ok {
				needs["mongodb"] = true
				checkMongoURI(t, c, "MONGODB_URI", uri)
			}
			for dep := range needs {
				d, ok := s.DependsOn[dep]
				if !ok || d.Condition != types.ServiceConditionHealthy {
					t.Errorf("does not wait for %s (depends_on %s: condition: service_healthy)", dep, dep)
				}
			}
			for dep := range s.DependsOn {
				if !needs[dep] {
					t.Errorf("depends on %s, which its environment does not use", dep)
				}
			}
		})
	}

	// The binlog client ids must differ from each other and from the server's.
	if s := c.Services["cdc-source"]; s != nil {
		ids := serverIDs(t)
		id := s.env["DATABASE_SERVER_ID"]
		if id == "" || id == "0" {
			t.Logf("cdc-source: DATABASE_SERVER_ID unset: a random id is used")
		} else if other, dup := ids[id]; dup {
			t.Errorf("cdc-source: DATABASE_SERVER_ID=%s is also used by %s", id, other)
		}
	}
}

// checkValue checks v parses as the flag's type, as shown by --help.
func checkValue(f flagInfo, v string) error {
	var err error
	switch f.typ {
	case "":
		_, err = strconv.ParseBool(v)
	case "int", "uint":
		_, err = strconv.ParseInt(v, 10, 64)
	case "float":
		_, err = strconv.ParseFloat(v, 64)
	case "duration":
		_, err = time.ParseDuration(v)
	}
	if err == nil && strings.HasSuffix(f.name, ".ms") {
		if _, e := strconv.ParseInt(v, 10, 64); e != nil {
			_, err = time.ParseDuration(v)
		}
	}
	return err
}

func checkMongoURI(t *testing.T, c *compose, what, uri string) {
	t.Helper()
	rest, ok := strings.CutPrefix(uri, "mongodb://")
	if !ok {
		t.Errorf("%s=%q: want mongodb://mongodb:<port>", what, uri)
		return
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	m := c.mustService(t, "mongodb")
	for _, hp := range strings.Split(rest, ",") {
		h, p, err := net.SplitHostPort(hp)
		if err != nil {
			h, p = hp, "27017"
		}
		if c.Services[h] == nil {
			t.Errorf("%s=%q: host %q is not a compose service", what, uri, h)
		} else if h != "mongodb" {
			t.Errorf("%s=%q: host %q, want mongodb", what, uri, h)
		} else if !slices.Contains(m.containerPorts(), p) {
			t.Errorf("%s=%q: port %s is not mongodb's (%v)", what, uri, p, m.containerPorts())
		}
	}
}

// usersSQL returns the users database/users.sql creates for any host ('%'), with their passwords.
func usersSQL(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "database", "users.sql"))
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]string{}
	re := regexp.MustCompile(`(?i)CREATE USER IF NOT EXISTS '([^']+)'@'%'\s+IDENTIFIED BY '([^']*)'`)
	for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
		users[m[1]] = m[2]
	}
	if len(users) == 0 {
		t.Fatalf("database/users.sql: no CREATE USER ... @'%%' IDENTIFIED BY found")
	}
	return users
}

// ---------------------------------------------------------------------------
// Kafka Connect: the worker, its plugins and the connector files.

type connectorFile struct {
	file   string
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
}

func connectorFiles(t *testing.T, dir string) []connectorFile {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s/*.json (%v)", dir, err)
	}
	var out []connectorFile
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cf := connectorFile{file: f}
		if err := json.Unmarshal(raw, &cf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if cf.Name == "" || len(cf.Config) == 0 {
			t.Fatalf("%s: want {\"name\": ..., \"config\": {...}}", f)
		}
		out = append(out, cf)
	}
	return out
}

var envPlaceholder = regexp.MustCompile(`\$\{env:([^}:]+)(?::[^}]*)?\}`)

// serverIDs are the binlog client ids of the connector files and the server's own.
func serverIDs(t *testing.T) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, cf := range connectorFiles(t, connectDir) {
		if id := cf.Config["database.server.id"]; id != "" {
			ids[id] = cf.Name
		}
	}
	if id := mysqlOptions(t, load(t))["server_id"]; id != "" {
		ids[id] = "the MySQL server (server-id)"
	}
	return ids
}

func TestConnect(t *testing.T) {
	c := load(t)
	w := c.mustService(t, "connect")
	env := w.env
	for _, req := range []string{"CONNECT_BOOTSTRAP_SERVERS", "CONNECT_GROUP_ID", "CONNECT_CONFIG_STORAGE_TOPIC",
		"CONNECT_OFFSET_STORAGE_TOPIC", "CONNECT_STATUS_STORAGE_TOPIC", "CONNECT_KEY_CONVERTER",
		"CONNECT_VALUE_CONVERTER", "CONNECT_REST_ADVERTISED_HOST_NAME"} {
		if env[req] == "" {
			t.Errorf("connect: %s not set (the cp-kafka-connect image refuses to start without it)", req)
		}
	}
	if env["CONNECT_REST_ADVERTISED_HOST_NAME"] != "connect" {
		t.Errorf("connect: CONNECT_REST_ADVERTISED_HOST_NAME=%q, want connect", env["CONNECT_REST_ADVERTISED_HOST_NAME"])
	}
	for _, rf := range []string{"CONNECT_CONFIG_STORAGE_REPLICATION_FACTOR", "CONNECT_OFFSET_STORAGE_REPLICATION_FACTOR", "CONNECT_STATUS_STORAGE_REPLICATION_FACTOR"} {
		if env[rf] != "1" {
			t.Errorf("connect: %s=%q, want 1 on a single broker", rf, env[rf])
		}
	}
	if strings.Contains(env["CONNECT_VALUE_CONVERTER"], "AvroConverter") && env["CONNECT_VALUE_CONVERTER_SCHEMA_REGISTRY_URL"] != registryURL(t, c) {
		t.Errorf("connect: CONNECT_VALUE_CONVERTER_SCHEMA_REGISTRY_URL=%q, want %s", env["CONNECT_VALUE_CONVERTER_SCHEMA_REGISTRY_URL"], registryURL(t, c))
	}
	if !slices.Contains(splitComma(env["CONNECT_CONFIG_PROVIDERS"]), "env") ||
		env["CONNECT_CONFIG_PROVIDERS_ENV_CLASS"] != "org.apache.kafka.common.config.provider.EnvVarConfigProvider" {
		t.Errorf("connect: the env config provider is not configured (CONNECT_CONFIG_PROVIDERS=env, CONNECT_CONFIG_PROVIDERS_ENV_CLASS=org.apache.kafka.common.config.provider.EnvVarConfigProvider): ${env:...} stays unresolved")
	}
	var allow *regexp.Regexp
	if p, ok := env["CONNECT_CONFIG_PROVIDERS_ENV_PARAM_ALLOWLIST_PATTERN"]; ok {
		var err error
		if allow, err = regexp.Compile(p); err != nil {
			t.Errorf("connect: CONNECT_CONFIG_PROVIDERS_ENV_PARAM_ALLOWLIST_PATTERN=%q: %v", p, err)
		}
	}
	// The plugins: connect-plugins fetches them into a volume with scripts/connect.sh (the tests'
	// worker's script, pom and versions), connect reads them from there, after it.
	fetcher := c.mustService(t, "connect-plugins")
	if !fetcher.oneShot() {
		t.Errorf("connect-plugins: restart %q, want \"no\" (a one-shot container)", fetcher.Restart)
	}
	run := strings.Join(append(slices.Clone([]string(fetcher.Entrypoint)), fetcher.Command...), " ")
	var scriptsAt, cacheVolume string
	for _, m := range fetcher.Volumes {
		if repoPath(m) == "scripts" {
			scriptsAt = m.Target
		}
		if m.Target == fetcher.env["CONNECT_CACHE_DIR"] {
			cacheVolume = m.Source
		}
	}
	if scriptsAt == "" || !strings.Contains(run, scriptsAt+"/connect.sh fetch") {
		t.Errorf("connect-plugins: does not run scripts/connect.sh fetch from a mount of ./scripts (runs %q)", run)
	}
	if _, named := c.Volumes[cacheVolume]; cacheVolume == "" || !named {
		t.Errorf("connect-plugins: CONNECT_CACHE_DIR=%q is not a named volume's mount", fetcher.env["CONNECT_CACHE_DIR"])
	}
	if d := w.DependsOn["connect-plugins"]; d.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("connect does not wait for connect-plugins to complete")
	}
	mountedAt := ""
	for _, m := range w.Volumes {
		if m.Source == cacheVolume && !bind(m) {
			mountedAt = m.Target
			if !m.ReadOnly {
				t.Errorf("connect: mount %q is writable: add :ro", m.String())
			}
		}
	}
	plugins := splitComma(env["CONNECT_PLUGIN_PATH"])
	for _, want := range []string{"/usr/share/java", mountedAt + "/plugins"} {
		if mountedAt == "" || !slices.Contains(plugins, want) {
			t.Errorf("connect: CONNECT_PLUGIN_PATH=%q lacks %s (the Avro converter / the plugins of connect-plugins' volume %q)", env["CONNECT_PLUGIN_PATH"], want, cacheVolume)
		}
	}
	fetch, err := os.ReadFile(filepath.Join(root, "scripts", "connect.sh"))
	if err != nil {
		t.Fatal(err)
	}
	users := usersSQL(t)
	sr := registryURL(t, c)
	internal := kafkaInternal(t, c)
	mysqlSvc := c.mustService(t, "mysql")

	for _, cf := range connectorFiles(t, connectDir) {
		t.Run(cf.Name, func(t *testing.T) {
			cfg := cf.Config
			class := cfg["connector.class"]
			// scripts/connect.sh waits for each plugin it fetches to be listed by the worker.
			if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(class) + `\s*$`).Match(fetch) {
				t.Errorf("connector.class %s is not among the plugins scripts/connect.sh fetches (WANT_PLUGINS)", class)
			}
			for _, k := range sortedKeys(cfg) {
				v := cfg[k]
				// ${env:X} must be in the worker's environment and allowed.
				for _, m := range envPlaceholder.FindAllStringSubmatch(v, -1) {
					name := m[1]
					if _, ok := env[name]; !ok {
						t.Errorf("%s=%q: the connect service's environment has no %s", k, v, name)
					}
					if allow != nil && !allow.MatchString(name) {
						t.Errorf("%s=%q: %s is not allowed by CONNECT_CONFIG_PROVIDERS_ENV_PARAM_ALLOWLIST_PATTERN=%q", k, v, name, allow)
					}
				}
				resolved := envPlaceholder.ReplaceAllStringFunc(v, func(p string) string {
					return env[envPlaceholder.FindStringSubmatch(p)[1]]
				})
				switch {
				case k == "database.hostname":
					if c.Services[v] == nil || v != "mysql" {
						t.Errorf("%s=%q: want the mysql service", k, v)
					}
				case k == "database.port":
					if !slices.Contains(mysqlSvc.containerPorts(), v) {
						t.Errorf("%s=%q: mysql listens on %v", k, v, mysqlSvc.containerPorts())
					}
				case k == "database.user":
					if _, ok := users[resolved]; !ok {
						t.Errorf("%s=%q (%q): not a user of database/users.sql", k, v, resolved)
					}
				case k == "database.password":
					if u := envPlaceholder.ReplaceAllStringFunc(cfg["database.user"], func(p string) string {
						return env[envPlaceholder.FindStringSubmatch(p)[1]]
					}); users[u] != resolved {
						t.Errorf("%s: not the password database/users.sql gives %s", k, u)
					}
				case strings.HasSuffix(k, "bootstrap.servers"):
					for _, b := range splitComma(v) {
						if strings.TrimPrefix(b, "PLAINTEXT://") != internal {
							t.Errorf("%s=%q: want kafka's internal listener %s", k, v, internal)
						}
					}
				case strings.HasSuffix(k, "schema.registry.url"):
					if v != sr {
						t.Errorf("%s=%q: want %s", k, v, sr)
					}
				case k == "connection.uri":
					checkMongoURI(t, c, k+" (resolved from the connect environment)", resolved)
				case strings.HasSuffix(k, ".hostname") || strings.HasSuffix(k, ".host"):
					if c.Services[v] == nil {
						t.Errorf("%s=%q is not a compose service", k, v)
					}
				}
			}
		})
	}
}

// scriptOf returns the deploy/ script a service mounts and runs.
func scriptOf(t *testing.T, s *service, script string) string {
	t.Helper()
	var target string
	for _, m := range s.Volumes {
		if repoPath(m) == "deploy/"+script {
			target = m.Target
		}
	}
	if target == "" {
		t.Fatalf("service %s does not mount ./deploy/%s", s.Name, script)
	}
	run := append(slices.Clone([]string(s.Entrypoint)), s.Command...)
	if !slices.Contains(run, target) && !slices.ContainsFunc(run, func(a string) bool { return strings.Contains(a, target) }) {
		t.Errorf("service %s mounts deploy/%s at %s but runs %v", s.Name, script, target, run)
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy", script))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestScriptsSyntax(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "deploy", "*.sh"))
	if len(files) == 0 {
		t.Fatal("no deploy/*.sh")
	}
	shells := map[string][]string{"sh": {"sh", "-n"}}
	if _, err := exec.LookPath("busybox"); err == nil {
		shells["busybox sh"] = []string{"busybox", "sh", "-n"}
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	for _, f := range files {
		for name, argv := range shells {
			if out, err := exec.Command(argv[0], append(argv[1:], f)...).CombinedOutput(); err != nil {
				t.Errorf("%s: %s: %v\n%s", name, f, err, out)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// connect-watchdog (which runs connect-init.sh first).

func TestConnectWatchdogService(t *testing.T) {
	c := load(t)
	s := c.mustService(t, "connect-watchdog")
	if s.oneShot() {
		t.Errorf("connect-watchdog: restart \"no\": it must keep running (and be started again after a failed registration)")
	}
	scriptOf(t, s, "connect-watchdog.sh")
	// connect-watchdog.sh runs the connect-init.sh next to it.
	var watchdogAt, initAt string
	for _, m := range s.Volumes {
		switch repoPath(m) {
		case "deploy/connect-watchdog.sh":
			watchdogAt = m.Target
		case "deploy/connect-init.sh":
			initAt = m.Target
		}
	}
	if initAt == "" || path.Dir(initAt) != path.Dir(watchdogAt) {
		t.Errorf("connect-watchdog: deploy/connect-init.sh must be mounted next to connect-watchdog.sh (%s), got %q", watchdogAt, initAt)
	}
	var target string
	for _, m := range s.Volumes {
		if repoPath(m) == "connectors/connect" {
			target = m.Target
			if !m.ReadOnly {
				t.Errorf("connect-watchdog: mount %q is writable: add :ro", m.String())
			}
		}
	}
	if target == "" {
		t.Fatalf("connect-watchdog does not mount ./connectors/connect")
	}
	dir := s.env["CONNECTORS_DIR"]
	if dir == "" {
		dir = "/connectors" // the script's default
	}
	if dir != target {
		t.Errorf("connect-watchdog reads %s (CONNECTORS_DIR) but ./connectors/connect is mounted at %s", dir, target)
	}
	u, err := url.Parse(s.env["CONNECT_URL"])
	if s.env["CONNECT_URL"] == "" {
		u, err = url.Parse("http://connect:8083") // the script's default
	}
	w := c.mustService(t, "connect")
	if err != nil || u.Hostname() != "connect" || !slices.Contains(w.containerPorts(), u.Port()) {
		t.Errorf("connect-watchdog: CONNECT_URL=%q, want http://connect:<a port of connect %v>", s.env["CONNECT_URL"], w.containerPorts())
	}
	if d := s.DependsOn["connect"]; d.Condition != types.ServiceConditionHealthy {
		t.Errorf("connect-watchdog does not wait for connect to be healthy")
	}
	// Debezium and the MongoDB sink reach their database when their config is submitted.
	for _, db := range []string{"mysql", "mongodb"} {
		if d := s.DependsOn[db]; d.Condition != types.ServiceConditionHealthy {
			t.Errorf("connect-watchdog does not wait for %s to be healthy (the connector's validation connects to it)", db)
		}
	}
	if len(s.Ports) > 0 {
		t.Errorf("connect-watchdog publishes ports")
	}
}

// fakeConnect is a Connect REST API that answers 409 (a rebalance) to the
// first PUT of each connector, then 201, and records the bodies. Validation
// reports the errors in invalid (connector name -> setting -> messages).
type fakeConnect struct {
	mu        sync.Mutex
	bodies    map[string][]byte
	attempts  map[string]int
	status    int // 0: 409 then 201
	invalid   map[string]map[string][]string
	validated map[string]int
	states    map[string]string // GET /connectors?expand=status: connector -> task 0's state
	restarts  []string          // POST /connectors/<name>/restart?<query>
}

func (f *fakeConnect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/connector-plugins/") && strings.HasSuffix(r.URL.Path, "/config/validate"):
		var cfg map[string]string
		if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
			http.Error(w, `{"error_code":500,"message":"bad JSON"}`, http.StatusInternalServerError)
			return
		}
		if f.validated == nil {
			f.validated = map[string]int{}
		}
		f.validated[cfg["name"]]++
		type value struct {
			Name   string   `json:"name"`
			Errors []string `json:"errors"`
		}
		var configs []map[string]value
		count := 0
		for _, k := range sortedKeys(cfg) {
			errs := f.invalid[cfg["name"]][k]
			if errs == nil {
				errs = []string{}
			}
			count += len(errs)
			configs = append(configs, map[string]value{"value": {Name: k, Errors: errs}})
		}
		json.NewEncoder(w).Encode(map[string]any{"name": cfg["connector.class"], "error_count": count, "configs": configs})
	case r.Method == http.MethodGet && r.URL.Path == "/connectors" && r.URL.Query().Get("expand") == "status":
		out := map[string]any{}
		for name, state := range f.states {
			out[name] = map[string]any{"status": map[string]any{"name": name, "type": "sink",
				"connector": map[string]any{"state": "RUNNING", "worker_id": "w:8083"},
				"tasks": []any{map[string]any{"id": 0, "state": state, "worker_id": "w:8083",
					"trace": "org.apache.kafka.connect.errors.ConnectException: Exiting WorkerSinkTask\n\tat x.y(Z.java:1)\nCaused by: com.mongodb.MongoTimeoutException: Timed out \"quoted\"\n\tat a.b(C.java:2)\n"}}}}
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/connectors/") && strings.HasSuffix(r.URL.Path, "/restart"):
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/connectors/"), "/restart")
		f.restarts = append(f.restarts, name+"?"+r.URL.RawQuery)
		f.states[name] = "RUNNING"
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodGet && r.URL.Path == "/connectors":
		names := sortedKeys(f.bodies)
		if names == nil {
			names = []string{}
		}
		json.NewEncoder(w).Encode(names)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/connectors/") && strings.HasSuffix(r.URL.Path, "/config"):
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/connectors/"), "/config")
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, `{"error_code":415,"message":"HTTP 415 Unsupported Media Type"}`, http.StatusUnsupportedMediaType)
			return
		}
		f.attempts[name]++
		if f.status != 0 {
			http.Error(w, `{"error_code":500,"message":"boom"}`, f.status)
			return
		}
		if f.attempts[name] == 1 {
			http.Error(w, `{"error_code":409,"message":"Cannot complete request momentarily due to stale configuration"}`, http.StatusConflict)
			return
		}
		body, _ := io.ReadAll(r.Body)
		_, existed := f.bodies[name]
		f.bodies[name] = body
		if existed {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusCreated)
		}
		w.Write(body)
	default:
		http.NotFound(w, r)
	}
}

// runInit runs deploy/connect-init.sh against url with the connectors in dir.
func runInit(t *testing.T, shell []string, pathDir, url, dir string) (int, string) {
	t.Helper()
	script, _ := filepath.Abs(filepath.Join(root, "deploy", "connect-init.sh"))
	cmd := exec.Command(shell[0], append(shell[1:], script)...)
	p := os.Getenv("PATH")
	if pathDir != "" {
		p = pathDir + string(os.PathListSeparator) + p
	}
	cmd.Env = []string{"PATH=" + p, "CONNECT_URL=" + url, "CONNECTORS_DIR=" + dir, "ATTEMPTS=3", "DELAY=0", "HOME=" + t.TempDir()}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("connect-init.sh did not finish in 60s:\n%s", out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// shells returns the shells to run the script with: sh, and busybox (the
// curlimages/curl image's sh, awk, sed, ...) when installed.
func shells(t *testing.T) map[string]struct {
	argv    []string
	pathDir string
} {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: connect-init.sh cannot be run here")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("sh is not installed")
	}
	out := map[string]struct {
		argv    []string
		pathDir string
	}{"sh": {argv: []string{"sh"}}}
	if bb, err := exec.LookPath("busybox"); err == nil {
		dir := t.TempDir()
		for _, tool := range []string{"awk", "sed", "tr", "head", "mktemp", "rm", "sleep", "cat"} {
			if err := os.Symlink(bb, filepath.Join(dir, tool)); err != nil {
				t.Fatal(err)
			}
		}
		out["busybox"] = struct {
			argv    []string
			pathDir string
		}{[]string{bb, "sh"}, dir}
	} else {
		t.Logf("busybox not installed: connect-init.sh is run with sh and this system's awk/sed only")
	}
	return out
}

func TestConnectInitRegistersEveryFile(t *testing.T) {
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			// The repository's files plus one more: the script must take
			// whatever is in the directory, not a list of its own.
			dir := t.TempDir()
			files, _ := filepath.Glob(filepath.Join(connectDir, "*.json"))
			for _, f := range files {
				raw, _ := os.ReadFile(f)
				os.WriteFile(filepath.Join(dir, filepath.Base(f)), raw, 0o644)
			}
			extra := `{
  "config": {"connector.class": "x.Y", "a": "{\"b\": [1, 2]}, }", "name": "zz-extra"},
  "name" : "zz-extra"
}`
			os.WriteFile(filepath.Join(dir, "zz-extra.json"), []byte(extra), 0o644)
			os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a connector"), 0o644)

			fc := &fakeConnect{bodies: map[string][]byte{}, attempts: map[string]int{}}
			srv := httptest.NewServer(fc)
			defer srv.Close()
			code, out := runInit(t, sh.argv, sh.pathDir, srv.URL, dir)
			if code != 0 {
				t.Fatalf("connect-init.sh exit %d:\n%s", code, out)
			}
			want := connectorFiles(t, dir)
			if len(want) != len(files)+1 {
				t.Fatalf("test setup: %d files", len(want))
			}
			for _, cf := range want {
				body, ok := fc.bodies[cf.Name]
				if !ok {
					t.Errorf("%s: connector %s was not registered (PUT /connectors/%s/config)\n%s", cf.file, cf.Name, cf.Name, out)
					continue
				}
				var got map[string]string
				if err := json.Unmarshal(body, &got); err != nil {
					t.Errorf("%s: the body sent is not a JSON object of strings (%v): %s", cf.Name, err, body)
					continue
				}
				if fmt.Sprint(got) != fmt.Sprint(cf.Config) {
					t.Errorf("%s: sent config\n%v\nwant the file's \"config\"\n%v", cf.Name, got, cf.Config)
				}
				if fc.attempts[cf.Name] != 2 {
					t.Errorf("%s: %d attempts, want 2 (the first answered 409)", cf.Name, fc.attempts[cf.Name])
				}
			}
			if len(fc.bodies) != len(want) {
				t.Errorf("registered %v, want exactly the %d files' connectors", sortedKeys(fc.bodies), len(want))
			}

			// Again: the same PUTs (updates), still exit 0.
			code, out = runInit(t, sh.argv, sh.pathDir, srv.URL, dir)
			if code != 0 || !strings.Contains(out, "updated") {
				t.Errorf("second run: exit %d, want 0 with updates:\n%s", code, out)
			}
		})
	}
}

func TestConnectInitFails(t *testing.T) {
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			// The worker keeps failing: exit 1, naming each connector.
			fc := &fakeConnect{bodies: map[string][]byte{}, attempts: map[string]int{}, status: http.StatusInternalServerError}
			srv := httptest.NewServer(fc)
			defer srv.Close()
			code, out := runInit(t, sh.argv, sh.pathDir, srv.URL, connectDir)
			if code == 0 {
				t.Errorf("exit 0 although every PUT failed:\n%s", out)
			}
			for _, cf := range connectorFiles(t, connectDir) {
				if !strings.Contains(out, cf.Name+": HTTP 500 after 3 attempts") {
					t.Errorf("output does not say %s failed:\n%s", cf.Name, out)
				}
				if fc.attempts[cf.Name] != 3 {
					t.Errorf("%s: %d attempts, want ATTEMPTS=3", cf.Name, fc.attempts[cf.Name])
				}
			}

			// No worker at all.
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			addr := ln.Addr().String()
			ln.Close()
			if code, out := runInit(t, sh.argv, sh.pathDir, "http://"+addr, connectDir); code == 0 {
				t.Errorf("exit 0 without a worker:\n%s", out)
			}

			// A file without a config object, an empty directory.
			good := &fakeConnect{bodies: map[string][]byte{}, attempts: map[string]int{}}
			srv2 := httptest.NewServer(good)
			defer srv2.Close()
			bad := t.TempDir()
			os.WriteFile(filepath.Join(bad, "a.json"), []byte(`{"name": "a", "settings": {"config": {"x": "y"}}}`), 0o644)
			if code, out := runInit(t, sh.argv, sh.pathDir, srv2.URL, bad); code == 0 || !strings.Contains(out, "no top-level \"config\"") {
				t.Errorf("file without a top-level config: exit %d:\n%s", code, out)
			}
			os.WriteFile(filepath.Join(bad, "a.json"), []byte(`{"name": "a b/../c", "config": {"x": "y"}}`), 0o644)
			if code, out := runInit(t, sh.argv, sh.pathDir, srv2.URL, bad); code == 0 || !strings.Contains(out, "no usable top-level \"name\"") {
				t.Errorf("file with an unusable name: exit %d:\n%s", code, out)
			}
			if code, out := runInit(t, sh.argv, sh.pathDir, srv2.URL, t.TempDir()); code == 0 {
				t.Errorf("empty directory: exit 0:\n%s", out)
			}
			if len(good.bodies) != 0 {
				t.Errorf("registered %v from bad files", sortedKeys(good.bodies))
			}
		})
	}
}

// TestConnectInitPrintsValidationErrors: the worker's validation errors are
// printed setting by setting, and that file fails at once (no retries, not
// registered); the others are registered.
func TestConnectInitPrintsValidationErrors(t *testing.T) {
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			fc := &fakeConnect{bodies: map[string][]byte{}, attempts: map[string]int{}, invalid: map[string]map[string][]string{
				"mysql-cdc-customers": {
					"database.hostname":    {"Unable to connect: Access denied for user 'orderstream'@'10.0.0.7' (using password: YES)"},
					"transforms.mask.type": {`Invalid value x.Y for configuration transforms.mask.type: Class x.Y could not be found.`},
				},
			}}
			srv := httptest.NewServer(fc)
			defer srv.Close()
			code, out := runInit(t, sh.argv, sh.pathDir, srv.URL, connectDir)
			if code == 0 {
				t.Errorf("exit 0 although a configuration does not validate:\n%s", out)
			}
			for _, want := range []string{
				"mysql-cdc-customers: the worker rejects the configuration",
				"2 error(s)",
				"database.hostname: Unable to connect: Access denied for user 'orderstream'@'10.0.0.7' (using password: YES)",
				"transforms.mask.type: Invalid value x.Y for configuration transforms.mask.type: Class x.Y could not be found.",
				"1 of 3 connectors not registered",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if fc.validated["mysql-cdc-customers"] != 1 || fc.attempts["mysql-cdc-customers"] != 0 {
				t.Errorf("mysql-cdc-customers: validated %d times, registered %d times; want 1 and 0 (fail fast)", fc.validated["mysql-cdc-customers"], fc.attempts["mysql-cdc-customers"])
			}
			for _, other := range []string{"mysql-cdc-products", "mongo-sink"} {
				if _, ok := fc.bodies[other]; !ok {
					t.Errorf("%s was not registered:\n%s", other, out)
				}
			}
		})
	}
}

// TestConnectWatchdogRestartsFailed: a FAILED task is restarted with
// includeTasks=true&onlyFailed=true, its cause logged; running ones are left
// alone.
func TestConnectWatchdogRestartsFailed(t *testing.T) {
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			fc := &fakeConnect{bodies: map[string][]byte{}, attempts: map[string]int{}, states: map[string]string{"mongo-sink": "FAILED", "mysql-cdc-customers": "RUNNING"}}
			srv := httptest.NewServer(fc)
			defer srv.Close()
			script, _ := filepath.Abs(filepath.Join(root, "deploy", "connect-watchdog.sh"))
			cmd := exec.Command(sh.argv[0], append(sh.argv[1:], script)...)
			p := os.Getenv("PATH")
			if sh.pathDir != "" {
				p = sh.pathDir + string(os.PathListSeparator) + p
			}
			heartbeat := filepath.Join(t.TempDir(), "alive")
			cmd.Env = []string{"PATH=" + p, "CONNECT_URL=" + srv.URL, "REGISTER=false", "INTERVAL=1", "HEARTBEAT_FILE=" + heartbeat, "HOME=" + t.TempDir()}
			var out syncBuf
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
			}()
			deadline := time.Now().Add(20 * time.Second)
			for {
				fc.mu.Lock()
				n := len(fc.restarts)
				fc.mu.Unlock()
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no restart after 20s:\n%s", out.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(1500 * time.Millisecond) // a round more: nothing else to restart
			fc.mu.Lock()
			defer fc.mu.Unlock()
			if want := []string{"mongo-sink?includeTasks=true&onlyFailed=true"}; !slices.Equal(fc.restarts, want) {
				t.Errorf("restarts %v, want %v", fc.restarts, want)
			}
			for _, want := range []string{"mongo-sink: FAILED (task 0): Caused by: com.mongodb.MongoTimeoutException: Timed out", "mongo-sink: restarted (HTTP 202)"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			if _, err := os.Stat(heartbeat); err != nil {
				t.Errorf("no heartbeat file: %v", err)
			}
		})
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// ---------------------------------------------------------------------------
// MySQL.

// Options MySQL 8.4 no longer has (removed in 8.2, 8.3 or 8.4: MySQL Server
// Version Reference, "Option and Variable Changes for MySQL 8.4" and "... 8.2").
// The server refuses to start on any of them unless written loose-<name>.
var removedIn84 = []string{
	"expire_logs_days", "default_authentication_plugin", "avoid_temporal_upgrade",
	"binlog_transaction_dependency_tracking", "character_set_client_handshake",
	"group_replication_ip_whitelist", "group_replication_primary_member",
	"group_replication_recovery_complete_at", "abort_slave_event_count",
	"disconnect_slave_event_count", "admin_ssl", "authentication_fido_rp_id",
	"keyring_encrypted_file_data", "keyring_encrypted_file_password",
}

// mysqlOptions parses the [mysqld] group of the cnf mounted into the mysql
// service, names normalised (lower case, - as _), values unquoted. A loose-
// prefix is kept in the name.
func mysqlOptions(t *testing.T, c *compose) map[string]string {
	t.Helper()
	m := c.mustService(t, "mysql")
	var cnf string
	for _, v := range m.Volumes {
		if strings.HasPrefix(v.Target, "/etc/mysql/conf.d/") && strings.HasSuffix(v.Target, ".cnf") {
			if !bind(v) {
				t.Fatalf("mysql: %q is not a file of the repository", v.String())
			}
			cnf = repoPath(v)
		}
	}
	if cnf == "" {
		t.Fatalf("mysql: no .cnf mounted into /etc/mysql/conf.d/ (the binlog settings)")
	}
	raw, err := os.ReadFile(filepath.Join(root, cnf))
	if err != nil {
		t.Fatal(err)
	}
	opts := map[string]string{}
	group := ""
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '!' {
			continue
		}
		if line[0] == '[' {
			group = strings.Trim(line, "[]")
			continue
		}
		if group != "mysqld" && group != "server" {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		if i := strings.Index(v, " #"); i >= 0 {
			v = v[:i]
		}
		k = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(k)), "-", "_")
		v = strings.Trim(strings.TrimSpace(v), `'"`)
		opts[k] = v
	}
	return opts
}

func TestMySQL(t *testing.T) {
	c := load(t)
	m := c.mustService(t, "mysql")
	if !strings.HasPrefix(m.Image, "mysql:8.4") {
		t.Logf("mysql image %q: the checks below are for MySQL 8.4", m.Image)
	}
	if m.env["MYSQL_ROOT_PASSWORD"] == "" {
		t.Errorf("mysql: MYSQL_ROOT_PASSWORD empty: the image refuses to initialise (give it a dev default)")
	}
	if !slices.Contains(m.containerPorts(), "3306") {
		t.Errorf("mysql: port 3306 not published")
	}
	// The init scripts, in an order that works.
	init := map[string]string{}
	for _, v := range m.Volumes {
		if dir, file := path.Split(v.Target); dir == "/docker-entrypoint-initdb.d/" {
			init[repoPath(v)] = file
		}
	}
	for _, f := range []string{"ddl.sql", "dml.sql", "users.sql"} {
		if init["database/"+f] == "" {
			t.Errorf("mysql: database/%s is not mounted into /docker-entrypoint-initdb.d/", f)
		} else if !strings.HasSuffix(init["database/"+f], ".sql") {
			t.Errorf("mysql: database/%s mounted as %s: the entrypoint runs only *.sql, *.sql.gz, *.sh", f, init["database/"+f])
		}
	}
	if d, m := init["database/ddl.sql"], init["database/dml.sql"]; d != "" && m != "" && !(d < m) {
		t.Errorf("mysql: init order %s, %s: the entrypoint runs them in name order and dml.sql needs ddl.sql's tables", d, m)
	}
	// The healthcheck must not pass while the init scripts still run.
	if m.HealthCheck != nil {
		args, _ := healthArgs(m.HealthCheck)
		joined := strings.Join(args, " ")
		if !strings.Contains(joined, "127.0.0.1") && !strings.Contains(strings.ToLower(joined), "protocol=tcp") {
			t.Errorf("mysql: healthcheck %q does not use TCP: over the socket it passes while the entrypoint's temporary server (no network) runs the init scripts", joined)
		}
	}

	opts := mysqlOptions(t, c)
	for k, want := range map[string]string{"binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "FULL"} {
		if got, ok := opts[k]; !ok {
			t.Errorf("mysql cnf: %s not set (want %s; loose- does not count)", k, want)
		} else if !strings.EqualFold(got, want) {
			t.Errorf("mysql cnf: %s=%s, want %s", k, got, want)
		}
	}
	if _, ok := opts["log_bin"]; !ok {
		t.Errorf("mysql cnf: log-bin not set")
	}
	if id := opts["server_id"]; id == "" || id == "0" {
		t.Errorf("mysql cnf: server-id %q: a binlog source needs a non-zero id", id)
	}
	for k := range opts {
		if slices.Contains(removedIn84, k) {
			t.Errorf("mysql cnf: %s was removed in MySQL 8.4, which refuses to start on it: drop it or write loose-%s", k, k)
		}
	}
	for _, cf := range connectorFiles(t, connectDir) {
		if id := cf.Config["database.server.id"]; id != "" && id == opts["server_id"] {
			t.Errorf("%s: database.server.id %s is the server's own server-id", cf.Name, id)
		}
	}
}

// ---------------------------------------------------------------------------
// Dockerfile and .dockerignore.

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	// Instructions, with continuation lines joined.
	var instr []string
	var cur strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		trim := strings.TrimSpace(line)
		if cur.Len() == 0 && (trim == "" || strings.HasPrefix(trim, "#")) {
			continue
		}
		if strings.HasSuffix(trim, "\\") {
			cur.WriteString(strings.TrimSuffix(trim, "\\") + " ")
			continue
		}
		cur.WriteString(trim)
		instr = append(instr, cur.String())
		cur.Reset()
	}
	type stage struct {
		from, name string
		instr      []string
	}
	var stages []*stage
	for _, in := range instr {
		f := strings.Fields(in)
		if strings.EqualFold(f[0], "FROM") {
			s := &stage{from: f[1]}
			if len(f) >= 4 && strings.EqualFold(f[2], "AS") {
				s.name = f[3]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %q before FROM", in)
		}
		stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: want a build stage and a runtime stage, got %d stages", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	// Builder: golang of the go.mod version.
	gomod, _ := os.ReadFile(filepath.Join(root, "go.mod"))
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("go.mod: no go directive")
	}
	if want := "golang:" + string(goVersion[1]) + "-"; !strings.HasPrefix(build.from, want) {
		t.Errorf("Dockerfile: builder %q, want %s<debian> (go.mod says go %s)", build.from, want, goVersion[1])
	}
	if imageTag(build.from) == "" {
		t.Errorf("Dockerfile: builder image %q not pinned", build.from)
	}
	// Modules in a layer of their own, before the sources.
	iMod, iDownload, iAll, iBuild := -1, -1, -1, -1
	var buildCmd string
	for i, in := range build.instr {
		switch {
		case strings.HasPrefix(in, "COPY") && strings.Contains(in, "go.mod") && strings.Contains(in, "go.sum") && !strings.Contains(in, " . "):
			iMod = i
		case strings.HasPrefix(in, "RUN") && strings.Contains(in, "go mod download"):
			iDownload = i
		case regexp.MustCompile(`^COPY\s+(--\S+\s+)*\.\s+\.$`).MatchString(in):
			iAll = i
		case strings.HasPrefix(in, "RUN") && strings.Contains(in, "go build"):
			iBuild, buildCmd = i, in
		}
	}
	if !(iMod >= 0 && iMod < iDownload && iDownload < iAll && iAll < iBuild) {
		t.Errorf("Dockerfile: want COPY go.mod go.sum, RUN go mod download, COPY . ., RUN go build in that order (got positions %d %d %d %d)", iMod, iDownload, iAll, iBuild)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-o /out/"} {
		if !strings.Contains(buildCmd, want) {
			t.Errorf("Dockerfile: go build without %s: %q", want, buildCmd)
		}
	}
	// Every command under cmd/.
	dirs, _ := filepath.Glob(filepath.Join(root, "cmd", "*", "main.go"))
	if !strings.Contains(buildCmd, "./cmd/...") {
		for _, d := range dirs {
			name := filepath.Base(filepath.Dir(d))
			if !strings.Contains(buildCmd, "./cmd/"+name) {
				t.Errorf("Dockerfile: go build does not build cmd/%s", name)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "healthcheck", "main.go")); err != nil {
		t.Errorf("cmd/healthcheck is missing: the services' healthchecks run it")
	}

	// Runtime: distroless static, nonroot, the binaries in /usr/local/bin.
	if final.from != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("Dockerfile: final stage FROM %s, want gcr.io/distroless/static-debian12:nonroot", final.from)
	}
	copied, user := false, ""
	for _, in := range final.instr {
		f := strings.Fields(in)
		switch strings.ToUpper(f[0]) {
		case "COPY":
			if slices.Contains(f, "--from="+build.name) && slices.Contains(f, "/out/") && f[len(f)-1] == binDir {
				copied = true
			}
		case "USER":
			user = f[1]
		case "RUN":
			t.Errorf("Dockerfile: RUN in the runtime stage: %q (distroless has no shell)", in)
		}
	}
	if !copied {
		t.Errorf("Dockerfile: the final stage does not COPY --from=%s /out/ %s", build.name, binDir)
	}
	if u, _, _ := strings.Cut(user, ":"); u != "nonroot" && u != "65532" && user != "" {
		t.Errorf("Dockerfile: USER %s, want nonroot", user)
	}
}

func TestDockerignore(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		if l[0] == '!' {
			t.Errorf(".dockerignore: exceptions (%s) are not expected", l)
			continue
		}
		patterns = append(patterns, strings.TrimPrefix(path.Clean(l), "/"))
	}
	ignored := func(p string) string {
		for _, pat := range patterns {
			// A pattern excludes a path or any of its parents.
			for q := p; q != "." && q != "/"; q = path.Dir(q) {
				if ok, _ := path.Match(pat, q); ok {
					return pat
				}
				if strings.HasPrefix(pat, "**/") {
					if ok, _ := path.Match(strings.TrimPrefix(pat, "**/"), path.Base(q)); ok {
						return pat
					}
				}
			}
		}
		return ""
	}
	for _, want := range []string{".git", ".cache", ".data"} {
		if ignored(want) == "" {
			t.Errorf(".dockerignore does not exclude %s (large, and not needed to build)", want)
		}
	}
	// Nothing the build needs: go.mod, go.sum and every package (and its
	// embedded files) the commands import.
	out, err := exec.Command("go", "list", "-e", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`, "../cmd/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	abs, _ := filepath.Abs(root)
	need := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		rel, err := filepath.Rel(abs, f[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range f[1:] {
			need = append(need, filepath.ToSlash(filepath.Join(rel, file)))
		}
	}
	if len(need) < 10 {
		t.Fatalf("go list found only %v", need)
	}
	for _, p := range need {
		if pat := ignored(p); pat != "" {
			t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", pat, p)
		}
	}
}
