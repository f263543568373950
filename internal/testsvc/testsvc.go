// Package testsvc finds the local services that integration tests run against.
//
// Each service is located from an environment variable, falling back to the address a developer machine and CI
// use. When the service does not answer, the test is skipped with a message naming the service and the variable
// to set, unless SLUICE_REQUIRE_SERVICES=1 (as in CI), in which case it fails: a missing service must never
// turn a CI run green by skipping.
//
// Redis Cluster is not found but started: [NewRedisCluster] and [SharedRedisCluster] run a throwaway cluster of
// three masters from the local redis-server binary, and skip (or fail, likewise) when there is none.
package testsvc

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"testing"
	"time"
)

// Service describes one local service.
type Service struct {
	Name    string // human name, used in skip and failure messages
	Env     string // environment variable that overrides Default
	Default string // address, DSN or URL used when Env is empty
	// hostPort extracts the TCP address to probe from the configured value.
	hostPort func(string) (string, error)
}

// The services the integration tests use, with the local defaults.
var (
	PostgresService = Service{
		Name: "PostgreSQL", Env: "SLUICE_POSTGRES_DSN",
		Default:  "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		hostPort: urlHostPort("5432"),
	}
	MySQLService = Service{
		Name: "MariaDB/MySQL", Env: "SLUICE_MYSQL_DSN",
		Default:  "root@tcp(127.0.0.1:3306)/test?parseTime=true",
		hostPort: mysqlHostPort,
	}
	RedisService = Service{
		Name: "Redis", Env: "SLUICE_REDIS_ADDR",
		Default:  "127.0.0.1:6379",
		hostPort: plainHostPort("6379"),
	}
	NATSService = Service{
		Name: "NATS", Env: "SLUICE_NATS_URL",
		Default:  "nats://127.0.0.1:4222",
		hostPort: urlHostPort("4222"),
	}
	AMQPService = Service{
		Name: "RabbitMQ", Env: "SLUICE_AMQP_URL",
		Default:  "amqp://guest:guest@127.0.0.1:5672/",
		hostPort: urlHostPort("5672"),
	}
)

// Postgres returns the PostgreSQL DSN (a pgx/libpq URL), or skips t when the server is unreachable.
func Postgres(t testing.TB) string { return PostgresService.Require(t) }

// MySQL returns the MariaDB/MySQL DSN (go-sql-driver format), or skips t when the server is unreachable.
func MySQL(t testing.TB) string { return MySQLService.Require(t) }

// Redis returns the Redis address (host:port), or skips t when the server is unreachable.
func Redis(t testing.TB) string { return RedisService.Require(t) }

// NATS returns the NATS URL, or skips t when the server is unreachable.
func NATS(t testing.TB) string { return NATSService.Require(t) }

// AMQP returns the RabbitMQ URL, or skips t when the server is unreachable.
func AMQP(t testing.TB) string { return AMQPService.Require(t) }

// Required reports whether missing services fail tests instead of skipping them (SLUICE_REQUIRE_SERVICES=1).
func Required() bool { return os.Getenv("SLUICE_REQUIRE_SERVICES") == "1" }

// Value returns the configured address, DSN or URL of s.
func (s Service) Value() string {
	if v := os.Getenv(s.Env); v != "" {
		return v
	}
	return s.Default
}

// Reachable reports whether s accepts TCP connections, with the reason when it does not.
func (s Service) Reachable() error {
	addr, err := s.hostPort(s.Value())
	if err != nil {
		return fmt.Errorf("%s=%q: %w", s.Env, s.Value(), err)
	}
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Require returns s's configured value when it is reachable. Otherwise it skips t, or fails it when
// [Required] is true.
func (s Service) Require(t testing.TB) string {
	t.Helper()
	if err := s.Reachable(); err != nil {
		msg := fmt.Sprintf("%s is unreachable (%v); start it or set %s", s.Name, err, s.Env)
		if Required() {
			t.Fatalf("%s; SLUICE_REQUIRE_SERVICES=1 makes this a failure", msg)
		}
		t.Skip(msg)
	}
	return s.Value()
}

func urlHostPort(defPort string) func(string) (string, error) {
	return func(v string) (string, error) {
		u, err := url.Parse(v)
		if err != nil {
			return "", err
		}
		if u.Hostname() == "" {
			return "", fmt.Errorf("no host in %q", v)
		}
		port := u.Port()
		if port == "" {
			port = defPort
		}
		return net.JoinHostPort(u.Hostname(), port), nil
	}
}

func plainHostPort(defPort string) func(string) (string, error) {
	return func(v string) (string, error) {
		if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
			return urlHostPort(defPort)(v)
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return net.JoinHostPort(v, defPort), nil
		}
		return v, nil
	}
}

var mysqlAddr = regexp.MustCompile(`@tcp\(([^)]+)\)`)

func mysqlHostPort(v string) (string, error) {
	m := mysqlAddr.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("no @tcp(host:port) in %q", v)
	}
	return plainHostPort("3306")(m[1])
}
