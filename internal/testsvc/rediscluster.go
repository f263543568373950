package testsvc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServerEnv names the variable that sets the redis-server binary [NewRedisCluster] starts (default: the
// redis-server found in PATH). It needs Redis 7 or later (CLUSTER ADDSLOTSRANGE, --cluster-port).
const RedisServerEnv = "SLUICE_REDIS_SERVER"

// clusterStartTimeout bounds the start of a cluster: the processes, their configuration, and the wait for every
// node to report cluster_state:ok (a new master waits about 2 s after it starts before it reports ok).
const clusterStartTimeout = 15 * time.Second

// errPortTaken reports that a node could not listen on the ports picked for it.
var errPortTaken = errors.New("port already in use")

// RedisCluster is a throwaway Redis Cluster of three masters and no replicas, each a redis-server process on
// 127.0.0.1 with no persistence, its files in a temporary directory. It exists to test code that uses a
// [redis.ClusterClient] against real slot routing: keys spread over three nodes, MOVED and CROSSSLOT errors, and
// pub/sub messages crossing the cluster bus.
//
// Make one with [NewRedisCluster] for one test, or share one among the tests of a package with
// [SharedRedisCluster]. Its methods are safe for concurrent use.
type RedisCluster struct {
	nodes []*clusterNode
	dir   string
	rmDir bool // whether Close removes dir
	once  sync.Once
	err   error
}

// clusterNode is one redis-server process.
type clusterNode struct {
	addr   string
	bus    int
	cmd    *exec.Cmd
	log    string
	exited chan struct{} // closed when the process has exited and been waited for
}

// NewRedisCluster starts a three-master Redis Cluster for t and stops it when t ends. When no redis-server
// binary is found, it skips t, or fails it when [Required] is true; when one is found but the cluster does not
// come up, it fails t.
func NewRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	bin := redisServer(t)
	c, err := startRedisCluster(bin, t.TempDir(), false)
	if err != nil {
		t.Fatalf("start a Redis Cluster from %s: %v", bin, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// redisServer returns the redis-server binary, or skips t (fails it when [Required]) when there is none.
func redisServer(t testing.TB) string {
	t.Helper()
	bin, err := findRedisServer()
	if err != nil {
		msg := fmt.Sprintf("no redis-server binary to start a Redis Cluster (%v); install Redis 7 or set %s",
			err, RedisServerEnv)
		if Required() {
			t.Fatalf("%s; SLUICE_REQUIRE_SERVICES=1 makes this a failure", msg)
		}
		t.Skip(msg)
	}
	return bin
}

func findRedisServer() (string, error) {
	if v := os.Getenv(RedisServerEnv); v != "" {
		return exec.LookPath(v)
	}
	return exec.LookPath("redis-server")
}

// Addrs returns the addresses (host:port) of the three masters, the seeds of a [redis.ClusterOptions].
func (c *RedisCluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.addr
	}
	return addrs
}

// MoveSlot moves the hash slot of key, with the keys in it, from the master that holds it to the next one, as a
// resharding does, and returns both masters' addresses. A client that cached the old owner gets MOVED on its
// next command for the slot.
func (c *RedisCluster) MoveSlot(ctx context.Context, key string) (from, to string, err error) {
	clients := make([]*redis.Client, len(c.nodes))
	ids := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.addr, MaxRetries: -1})
		defer clients[i].Close()
		if ids[i], err = clients[i].ClusterMyID(ctx).Result(); err != nil {
			return "", "", fmt.Errorf("node %s: CLUSTER MYID: %w", n.addr, err)
		}
	}
	slot, err := clients[0].ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", "", fmt.Errorf("CLUSTER KEYSLOT: %w", err)
	}
	shards, err := clients[0].ClusterShards(ctx).Result()
	if err != nil {
		return "", "", fmt.Errorf("CLUSTER SHARDS: %w", err)
	}
	src := -1
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if r.Start <= slot && slot <= r.End {
				for _, n := range sh.Nodes {
					if n.Role == "master" {
						src = slices.Index(ids, n.ID)
					}
				}
			}
		}
	}
	if src < 0 {
		return "", "", fmt.Errorf("no master claims slot %d", slot)
	}
	dst := (src + 1) % len(c.nodes)
	from, to = c.nodes[src].addr, c.nodes[dst].addr
	if err := clients[dst].Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src]).Err(); err != nil {
		return from, to, fmt.Errorf("node %s: SETSLOT IMPORTING: %w", to, err)
	}
	if err := clients[src].Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst]).Err(); err != nil {
		return from, to, fmt.Errorf("node %s: SETSLOT MIGRATING: %w", from, err)
	}
	host, port, _ := net.SplitHostPort(to)
	for {
		keys, err := clients[src].ClusterGetKeysInSlot(ctx, int(slot), 100).Result()
		if err != nil {
			return from, to, fmt.Errorf("node %s: GETKEYSINSLOT: %w", from, err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		if err := clients[src].Do(ctx, args...).Err(); err != nil {
			return from, to, fmt.Errorf("node %s: MIGRATE to %s: %w", from, to, err)
		}
	}
	// The new owner first, then the old one, then the rest, as redis-cli --cluster reshard does.
	order := []int{dst, src}
	for i := range clients {
		if i != src && i != dst {
			order = append(order, i)
		}
	}
	for _, i := range order {
		if err := clients[i].Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", ids[dst]).Err(); err != nil {
			return from, to, fmt.Errorf("node %s: SETSLOT NODE: %w", c.nodes[i].addr, err)
		}
	}
	// The new owner's config epoch, bumped by SETSLOT NODE, reaches the other nodes by gossip. Until it has, a
	// claim of the slot still in flight from the old owner can take it back (redis/redis#3776), and a next move
	// could bump an epoch no higher than one the new owner has not heard of: wait until every node knows it.
	epoch, err := configEpoch(ctx, clients[dst], ids[dst])
	if err != nil {
		return from, to, fmt.Errorf("node %s: %w", to, err)
	}
	wctx, cancel := context.WithTimeout(ctx, clusterStartTimeout)
	defer cancel()
	for i, cl := range clients {
		known := func(ctx context.Context) *redis.StringCmd { return cl.ClusterNodes(ctx) }
		if err := await(wctx, known, "told the new owner's config epoch", nodeHasEpoch(ids[dst], epoch)); err != nil {
			return from, to, fmt.Errorf("node %s: %w", c.nodes[i].addr, err)
		}
	}
	return from, to, nil
}

// configEpoch returns the config epoch of node id as CLUSTER NODES on cl reports it.
func configEpoch(ctx context.Context, cl *redis.Client, id string) (string, error) {
	nodes, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return "", fmt.Errorf("CLUSTER NODES: %w", err)
	}
	for _, line := range strings.Split(nodes, "\n") {
		if f := strings.Fields(line); len(f) > 6 && f[0] == id {
			return f[6], nil
		}
	}
	return "", fmt.Errorf("CLUSTER NODES does not list %s", id)
}

// nodeHasEpoch reports whether CLUSTER NODES gives node id the config epoch epoch.
func nodeHasEpoch(id, epoch string) func(nodes string) bool {
	return func(nodes string) bool {
		for _, line := range strings.Split(nodes, "\n") {
			if f := strings.Fields(line); len(f) > 6 && f[0] == id {
				return f[6] == epoch
			}
		}
		return false
	}
}

// Close stops the processes, waits for them to exit, and removes the cluster's files if it made their
// directory. Calling it again returns the first result.
func (c *RedisCluster) Close() error {
	c.once.Do(func() {
		var errs []error
		for _, n := range c.nodes {
			errs = append(errs, n.stop())
		}
		if c.rmDir {
			errs = append(errs, os.RemoveAll(c.dir))
		}
		c.err = errors.Join(errs...)
	})
	return c.err
}

// startRedisCluster starts three nodes with their files in dir, gives each a third of the slots, introduces
// them to each other and waits until every node reports cluster_state:ok. On failure it stops what it started.
func startRedisCluster(bin, dir string, rmDir bool) (_ *RedisCluster, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterStartTimeout)
	defer cancel()
	c := &RedisCluster{dir: dir, rmDir: rmDir}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	for i := range 3 {
		n, err := startNode(ctx, bin, dir, i)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	clients := make([]*redis.Client, len(c.nodes))
	for i, n := range c.nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.addr, MaxRetries: -1})
		defer clients[i].Close()
	}
	// Distinct config epochs before the nodes meet, as redis-cli --cluster create assigns them. Left at 0, they
	// collide until the nodes settle them by gossip, and a slot moved meanwhile can lose its new owner to a
	// stale claim of the old one (redis/redis#3776): the two then send MOVED to each other.
	for i, cl := range clients {
		if err := cl.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return nil, fmt.Errorf("node %s: CLUSTER SET-CONFIG-EPOCH: %w", c.nodes[i].addr, err)
		}
	}
	// The nodes meet before they own slots: a node that knows masters with slots it cannot reach yet counts
	// itself in a minority and, once they are reachable, waits up to the node timeout more before it reports ok.
	// Every pair meets directly, rather than through gossip, which takes seconds.
	for i := range c.nodes {
		for _, n := range c.nodes[i+1:] {
			host, port, _ := net.SplitHostPort(n.addr)
			// The bus port is given because it is not the default port+10000.
			if err := clients[i].Do(ctx, "CLUSTER", "MEET", host, port, n.bus).Err(); err != nil {
				return nil, fmt.Errorf("node %s: CLUSTER MEET %s: %w", c.nodes[i].addr, n.addr, err)
			}
		}
	}
	for i, cl := range clients {
		if err := await(ctx, cl.ClusterNodes, "all three nodes met", knowsAll(len(c.nodes))); err != nil {
			return nil, fmt.Errorf("node %s: %w", c.nodes[i].addr, err)
		}
	}
	const slots = 16384
	for i, cl := range clients {
		lo, hi := i*slots/len(clients), (i+1)*slots/len(clients)-1
		if err := cl.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			return nil, fmt.Errorf("node %s: CLUSTER ADDSLOTSRANGE %d %d: %w", c.nodes[i].addr, lo, hi, err)
		}
	}
	for i, cl := range clients {
		ok := func(info string) bool { return strings.Contains(info, "cluster_state:ok") }
		if err := await(ctx, cl.ClusterInfo, "cluster_state:ok", ok); err != nil {
			return nil, fmt.Errorf("node %s: %w", c.nodes[i].addr, err)
		}
	}
	return c, nil
}

// knowsAll reports whether CLUSTER NODES lists n nodes, none of them still in the handshake.
func knowsAll(n int) func(nodes string) bool {
	return func(nodes string) bool {
		return strings.Count(strings.TrimSpace(nodes), "\n")+1 == n && !strings.Contains(nodes, "handshake")
	}
}

// await polls query until done accepts its answer, or ctx ends.
func await(ctx context.Context, query func(context.Context) *redis.StringCmd, what string, done func(string) bool) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := query(ctx).Result()
		if err == nil && done(v) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not %s within %s (last error %v):\n%s", what, clusterStartTimeout, err, v)
		case <-tick.C:
		}
	}
}

// startNode starts node i on two free ports (client and cluster bus), picking others when they turn out taken.
func startNode(ctx context.Context, bin, dir string, i int) (*clusterNode, error) {
	var err error
	for range 5 {
		var n *clusterNode
		n, err = tryNode(ctx, bin, dir, i)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
	return nil, err
}

func tryNode(ctx context.Context, bin, dir string, i int) (*clusterNode, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(ports[0])
	n := &clusterNode{
		addr:   net.JoinHostPort("127.0.0.1", port),
		bus:    ports[1],
		log:    filepath.Join(dir, fmt.Sprintf("node%d-%s.log", i, port)),
		exited: make(chan struct{}),
	}
	n.cmd = exec.Command(bin,
		"--bind", "127.0.0.1", "--port", port, "--cluster-port", strconv.Itoa(n.bus),
		"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes-"+port+".conf"),
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", n.log,
		// Shorter than the default 15 s, which also bounds how long a master waits to report ok after it saw
		// itself in a minority; long enough that a busy host does not make a node look failed.
		"--cluster-node-timeout", "5000")
	setParentDeathSignal(n.cmd)
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = n.cmd.Wait()
		close(n.exited)
	}()
	cl := redis.NewClient(&redis.Options{Addr: n.addr, MaxRetries: -1, DialTimeout: time.Second})
	defer cl.Close()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		perr := cl.Ping(ctx).Err()
		if perr == nil {
			return n, nil
		}
		select {
		case <-n.exited:
			log, _ := os.ReadFile(n.log)
			if bytes.Contains(log, []byte("already in use")) {
				return nil, fmt.Errorf("node %s: %w", n.addr, errPortTaken)
			}
			return nil, fmt.Errorf("node %s exited at start (%s); its log:\n%s", n.addr, n.cmd.ProcessState, log)
		case <-ctx.Done():
			_ = n.stop()
			return nil, fmt.Errorf("node %s does not answer PING: %v", n.addr, perr)
		case <-tick.C:
		}
	}
}

// stop kills the process and waits for it to exit.
func (n *clusterNode) stop() error {
	select {
	case <-n.exited:
		return nil
	default:
	}
	if err := n.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop redis-server %s: %w", n.addr, err)
	}
	<-n.exited
	return nil
}

// freePorts returns k TCP ports that were free a moment ago on 127.0.0.1. Another process may take one before
// redis-server listens on it; startNode then tries again.
func freePorts(k int) ([]int, error) {
	ports := make([]int, 0, k)
	for range k {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close() // held until all k are picked, so that they differ
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// SharedRedisCluster is one [RedisCluster] for all the tests of a package: started by the first test that asks
// for it, stopped by [SharedRedisCluster.StopAfter] in TestMain once every test has run:
//
//	var cluster testsvc.SharedRedisCluster
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(cluster.StopAfter(m)) }
//
// Tests sharing it must not step on each other's keys: give each its own key prefix. The zero value is ready to
// use; it is safe for concurrent use.
type SharedRedisCluster struct {
	once sync.Once
	c    *RedisCluster
	bin  string
	err  error
}

// Require returns the shared cluster, starting it on the first call. When no redis-server binary is found, it
// skips t, or fails it when [Required] is true; when the cluster did not come up, it fails t.
func (s *SharedRedisCluster) Require(t testing.TB) *RedisCluster {
	t.Helper()
	bin := redisServer(t)
	s.once.Do(func() {
		s.bin = bin
		var dir string
		if dir, s.err = os.MkdirTemp("", "sluice-redis-cluster-"); s.err != nil {
			return
		}
		s.c, s.err = startRedisCluster(bin, dir, true)
		if s.err != nil {
			_ = os.RemoveAll(dir)
		}
	})
	if s.err != nil {
		t.Fatalf("start a Redis Cluster from %s: %v", s.bin, s.err)
	}
	return s.c
}

// StopAfter returns m with a Run that runs m, then stops the shared cluster if a test started it (a failure to
// stop fails the run). Pass it to goleak.VerifyTestMain, or call its Run from TestMain.
func (s *SharedRedisCluster) StopAfter(m interface{ Run() int }) interface{ Run() int } {
	return runFunc(func() int {
		code := m.Run()
		if s.c != nil {
			if err := s.c.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "testsvc:", err)
				if code == 0 {
					code = 1
				}
			}
		}
		return code
	})
}

type runFunc func() int

func (f runFunc) Run() int { return f() }
