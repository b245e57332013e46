package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// AdminSocket is the admin socket's file name in the data folder.
const AdminSocket = "admin.sock"

// AdminOp is one admin operation: JSON arguments in, a JSON-encodable result out.
// The same operation runs inside a serving process (through the admin socket) or in
// a command that opened the folders itself.
type AdminOp func(ctx context.Context, s *Server, args json.RawMessage) (any, error)

var adminOps = map[string]AdminOp{}

// RegisterAdminOp adds an operation; each feature's file registers its own from init.
func RegisterAdminOp(name string, op AdminOp) {
	if _, dup := adminOps[name]; dup {
		panic("server: admin op registered twice: " + name)
	}
	adminOps[name] = op
}

// Admin operations of the core.
const (
	OpTenantAdd     = "tenant.add"
	OpTenantList    = "tenant.list"
	OpEnrol         = "enrol"
	OpDeviceList    = "device.list"
	OpDeviceRevoke  = "device.revoke"
	OpTemplateAdd   = "template.add"
	OpServerInfo    = "server.info"
	adminMaxRequest = 8 << 20
)

// Arguments and results of the core admin operations.
type (
	TenantArgs struct {
		Tenant string `json:"tenant"`
	}
	TenantInfo struct {
		Name    string `json:"name"`
		Devices int    `json:"devices"`
		Epoch   string `json:"epoch,omitempty"`
	}
	EnrolArgs struct {
		Tenant    string `json:"tenant"`
		User      string `json:"user"`
		Admin     bool   `json:"admin"`
		ServerURL string `json:"server_url,omitempty"`
	}
	DeviceArgs struct {
		Tenant string `json:"tenant"`
		Device string `json:"device"`
	}
	TemplateArgs struct {
		Tenant   string          `json:"tenant"`
		Template json.RawMessage `json:"template"`
		// Number gives the template its version from its version label (an
		// imported form's), instead of taking the version it says.
		Number bool `json:"number,omitempty"`
	}
	ServerInfo struct {
		Addr        string `json:"addr,omitempty"`
		Fingerprint string `json:"fingerprint"`
		Serving     bool   `json:"serving"`
	}
)

func init() {
	RegisterAdminOp(OpTenantAdd, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a TenantArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		return s.AddTenant(ctx, a.Tenant)
	})
	RegisterAdminOp(OpTenantList, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		return s.ListTenants(ctx)
	})
	RegisterAdminOp(OpEnrol, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a EnrolArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		code, err := s.NewEnrolment(ctx, a.Tenant, a.User, a.Admin, a.ServerURL)
		if err != nil {
			return nil, err
		}
		return code.String(), nil
	})
	RegisterAdminOp(OpDeviceList, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a TenantArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		return s.Devices(ctx, a.Tenant)
	})
	RegisterAdminOp(OpDeviceRevoke, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a DeviceArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		return s.RevokeDevice(ctx, a.Tenant, a.Device)
	})
	RegisterAdminOp(OpTemplateAdd, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a TemplateArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		if a.Number {
			return s.ImportTemplate(ctx, a.Tenant, a.Template)
		}
		return s.AddTemplate(ctx, a.Tenant, a.Template)
	})
	RegisterAdminOp(OpServerInfo, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		return ServerInfo{Addr: s.Addr(), Fingerprint: s.id.fingerprint, Serving: s.Addr() != ""}, nil
	})
}

func decodeArgs(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	if err := decodeStrict(raw, v); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return errors.New(ae.msg)
		}
		return err
	}
	return nil
}

// RunAdmin runs an admin operation in this process.
func (s *Server) RunAdmin(ctx context.Context, op string, args json.RawMessage) (any, error) {
	fn, ok := adminOps[op]
	if !ok {
		return nil, fmt.Errorf("unknown admin operation %q", op)
	}
	return fn(ctx, s, args)
}

// AddTenant makes a tenant: its signing key in the config folder, its registry entry
// and its store with a new epoch.
func (s *Server) AddTenant(ctx context.Context, name string) (TenantInfo, error) {
	if err := s.id.addTenant(name); err != nil {
		return TenantInfo{}, err
	}
	t, err := s.tenant(ctx, name)
	if err != nil {
		return TenantInfo{}, err
	}
	s.log.Info("tenant added", "tenant", name, "epoch", t.epoch)
	return TenantInfo{Name: name, Epoch: t.epoch}, nil
}

// ListTenants lists the tenants with their number of devices.
func (s *Server) ListTenants(ctx context.Context) ([]TenantInfo, error) {
	names, err := s.id.tenants()
	if err != nil {
		return nil, err
	}
	out := make([]TenantInfo, 0, len(names))
	for _, n := range names {
		devs, err := s.reg.devices(n)
		if err != nil {
			return nil, err
		}
		out = append(out, TenantInfo{Name: n, Devices: len(devs)})
	}
	return out, nil
}

// Devices lists a tenant's devices with their latest activity.
func (s *Server) Devices(ctx context.Context, tenantName string) ([]Device, error) {
	if _, err := s.id.tenantKey(tenantName); err != nil {
		return nil, err
	}
	if err := s.act.flush(); err != nil {
		return nil, err
	}
	devs, err := s.reg.devices(tenantName)
	if err != nil {
		return nil, err
	}
	out := make([]Device, len(devs))
	for i, d := range devs {
		d.TokenHash = "" // not a secret, but nobody's business
		if c, err := s.reg.devCheckpoint(tenantName, d.ID); err == nil {
			d.AuditCheckpoint, d.AuditProblem = sizeOf(c.Checkpoint), c.Problem
		}
		out[i] = d
	}
	return out, nil
}

// RevokeDevice puts a device on the revocation list in the config folder (so it stays
// refused even after the data folder is lost) and removes its credential's hash.
func (s *Server) RevokeDevice(ctx context.Context, tenantName, device string) (Device, error) {
	if _, err := s.id.tenantKey(tenantName); err != nil {
		return Device{}, err
	}
	if !form.ValidDevice(device) {
		return Device{}, fmt.Errorf("device %q: %w", device, ErrNoDevice)
	}
	_, found, err := s.reg.device(tenantName, device)
	if err != nil {
		return Device{}, err
	}
	if !found {
		return Device{}, fmt.Errorf("device %s in tenant %s: %w", device, tenantName, ErrNoDevice)
	}
	now := s.now().UTC()
	if err := s.id.revoke(tenantName, device, now); err != nil {
		return Device{}, err
	}
	var out Device
	err = s.reg.updateDevice(tenantName, device, func(d *Device, ok bool) (bool, error) {
		if !ok {
			return false, nil
		}
		d.TokenHash, d.Revoked = "", &now
		out = *d
		return true, nil
	})
	s.log.Info("device revoked", "tenant", tenantName, "device", device)
	return out, err
}

// AddTemplate checks a template and stores it in a tenant.
func (s *Server) AddTemplate(ctx context.Context, tenantName string, raw json.RawMessage) (wire.TemplateResult, error) {
	t, err := s.tenant(ctx, tenantName)
	if err != nil {
		return wire.TemplateResult{}, err
	}
	tpl, err := form.ParseTemplate(raw)
	if err != nil {
		return wire.TemplateResult{}, err
	}
	res := wire.TemplateResult{ID: tpl.ID, Version: tpl.Version, Status: wire.StatusApplied}
	if old, err := t.st.Template(tpl.Key()); err == nil && string(old.Encode()) == string(tpl.Encode()) {
		res.Status = wire.StatusUnchanged
		return res, nil
	}
	if err := t.st.PutTemplate(ctx, tpl); err != nil {
		return wire.TemplateResult{}, err
	}
	s.log.Info("template added", "tenant", tenantName, "template", tpl.ID, "version", tpl.Version)
	return res, nil
}

// ImportTemplate stores a template made from an imported form, numbering its
// version from its version label (store.NumberVersion): an unchanged form is the
// version it was, a form with a new label the next version, and a label used
// before with other content is refused.
func (s *Server) ImportTemplate(ctx context.Context, tenantName string, raw json.RawMessage) (wire.TemplateResult, error) {
	t, err := s.tenant(ctx, tenantName)
	if err != nil {
		return wire.TemplateResult{}, err
	}
	tpl, err := form.ParseTemplate(raw)
	if err != nil {
		return wire.TemplateResult{}, err
	}
	numbered, same, err := t.st.NumberVersion(tpl)
	if err != nil {
		return wire.TemplateResult{}, err
	}
	res := wire.TemplateResult{ID: numbered.ID, Version: numbered.Version, Status: wire.StatusUnchanged}
	if same {
		return res, nil
	}
	if err := t.st.PutTemplate(ctx, numbered); err != nil {
		return wire.TemplateResult{}, err
	}
	res.Status = wire.StatusApplied
	s.log.Info("template imported", "tenant", tenantName, "template", numbered.ID, "version", numbered.Version, "label", numbered.VersionLabel)
	return res, nil
}

// adminRequest and adminResponse are the admin socket's messages, one of each per
// connection, each a line of JSON.
type adminRequest struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

type adminResponse struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// ServeAdmin answers admin operations on the unix socket in the data folder until ctx
// is done. The socket is readable and writable by the server's user only.
func (s *Server) ServeAdmin(ctx context.Context) error {
	path := filepath.Join(s.opts.DataDir, AdminSocket)
	// The registry lock says no other server uses this folder: a socket left here is
	// stale.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("admin socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("admin socket: %w", err)
	}
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			wg.Wait()
			os.Remove(path)
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("admin socket: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveAdminConn(ctx, conn)
		}()
	}
}

func (s *Server) serveAdminConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Minute))
	var req adminRequest
	var resp adminResponse
	line, err := bufio.NewReaderSize(io.LimitReader(conn, adminMaxRequest), 64<<10).ReadBytes('\n')
	if err == nil || errors.Is(err, io.EOF) && len(line) > 0 {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		resp.Error = "malformed admin request: " + err.Error()
	} else {
		s.log.Info("admin operation", "op", req.Op)
		result, err := s.RunAdmin(ctx, req.Op, req.Args)
		if err != nil {
			resp.Error = err.Error()
		} else if resp.Result, err = json.Marshal(result); err != nil {
			resp.Error = err.Error()
		}
	}
	out, _ := json.Marshal(resp)
	conn.Write(append(out, '\n'))
}

// ErrNoServer: no server answers on the admin socket.
var ErrNoServer = errors.New("no server running")

// CallAdmin runs an admin operation in the server running on dataDir, through its
// admin socket. It is ErrNoServer when none runs there.
func CallAdmin(ctx context.Context, dataDir, op string, args, out any) error {
	path := filepath.Join(dataDir, AdminSocket)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return ErrNoServer
		}
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	rawArgs, err := json.Marshal(args)
	if err != nil {
		return err
	}
	req, _ := json.Marshal(adminRequest{Op: op, Args: rawArgs})
	if _, err := conn.Write(append(req, '\n')); err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return fmt.Errorf("admin socket: no answer: %w", err)
	}
	var resp adminResponse
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("admin socket: malformed answer: %w", err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	if out != nil && len(resp.Result) > 0 {
		return json.Unmarshal(resp.Result, out)
	}
	return nil
}

// Admin runs an admin operation whether or not a server runs: through the running
// server's admin socket, or else by opening the folders in this process for the
// operation's length. Either way it is the same code that runs.
func Admin(ctx context.Context, opts Options, op string, args, out any) error {
	err := CallAdmin(ctx, opts.DataDir, op, args, out)
	if !errors.Is(err, ErrNoServer) {
		return err
	}
	opts.Create = false
	s, err := Open(ctx, opts)
	// A server holds the files but its socket is not there yet (it is starting) or no
	// longer (it is stopping): ask it again for a moment before giving up.
	for deadline := time.Now().Add(5 * time.Second); errors.Is(err, ErrInUse) && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if err = CallAdmin(ctx, opts.DataDir, op, args, out); !errors.Is(err, ErrNoServer) {
			return err
		}
		s, err = Open(ctx, opts)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	rawArgs, err := json.Marshal(args)
	if err != nil {
		return err
	}
	result, err := s.RunAdmin(ctx, op, rawArgs)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	data, err := json.Marshal(result)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// AdminOps lists the registered admin operations.
func AdminOps() []string {
	out := make([]string, 0, len(adminOps))
	for k := range adminOps {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
