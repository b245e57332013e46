package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fieldforms/fieldforms/store"
)

// OpTenantCompact rewrites a tenant's store without free pages, for
// `fieldformsd compact --tenant NAME`.
const OpTenantCompact = "tenant.compact"

func init() {
	RegisterAdminOp(OpTenantCompact, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a TenantArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		return s.CompactTenant(ctx, a.Tenant)
	})
}

// CompactTenant rewrites a tenant's store without free pages (store.Compact). In
// a running server the tenant is offline meanwhile, as for a restore: its calls
// get 503 and its devices retry; its store is closed, compacted and opened again.
// It works the same on the folders of a stopped server.
func (s *Server) CompactTenant(ctx context.Context, tenantName string) (store.CompactReport, error) {
	var rep store.CompactReport
	if _, err := s.id.tenantKey(tenantName); err != nil {
		return rep, err
	}
	if !s.tenants.setOffline(tenantName, true) {
		return rep, fmt.Errorf("tenant %s: a restore or compaction is already running", tenantName)
	}
	defer s.tenants.setOffline(tenantName, false)
	if err := s.tenants.closeTenant(tenantName); err != nil {
		return rep, fmt.Errorf("tenant %s: close its store: %w", tenantName, err)
	}
	rep, err := store.Compact(ctx, s.tenants.dirOf(tenantName), store.Options{
		LockTimeout:  s.tenants.lock,
		Logger:       s.log.With("tenant", tenantName),
		Now:          s.tenants.now,
		DamageAdvice: strings.ReplaceAll(damageAdvice, "NAME", tenantName),
	})
	if err != nil {
		return rep, fmt.Errorf("tenant %s: %w", tenantName, err)
	}
	s.tenants.setOffline(tenantName, false)
	if _, err := s.tenant(ctx, tenantName); err != nil {
		return rep, fmt.Errorf("tenant %s: the compacted store does not open: %w", tenantName, err)
	}
	s.log.Info("tenant compacted", "tenant", tenantName, "before", rep.Before, "after", rep.After, "records", rep.Records)
	return rep, nil
}
