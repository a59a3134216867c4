package agent

import (
	"slices"
	"strings"
)

// Role is a staff role. An agent holds one or more; what each allows is
// the matrix below and nothing else.
//
// SECURITY.md SUP-01 names the roles agent, senior, risk and admin. OKPay
// calls "senior" supervisor (the word the desk tools use for the person
// who runs a shift, approves and reassigns); ParseRole accepts "senior" as
// another name for it.
type Role string

// The roles.
const (
	// RoleAgent answers customers: conversations, the customer's context
	// (masked; reveals are logged), protective actions (freeze, end
	// sessions, send a reset link) and requests that someone else approves.
	RoleAgent Role = "agent"
	// RoleSupervisor (SUP-01's "senior") is an agent who also assigns
	// work, manages canned replies and team schedules, reads reports, and
	// approves other agents' requests (maker-checker, SUP-02).
	RoleSupervisor Role = "supervisor"
	// RoleRisk reviews withdrawals and security cases, approves sensitive
	// requests, reads the audit log and keeps the exchange rates.
	RoleRisk Role = "risk"
	// RoleAdmin manages staff accounts and teams and the desk's settings,
	// keeps the exchange rates, reads the audit log and reports, and sees
	// the desk at a glance (/staff/desk without conversations). It is a management role, not a desk role: an admin who
	// also answers customers holds the agent role too (least privilege).
	RoleAdmin Role = "admin"
)

// Roles lists every role, in the order the pages show them.
func Roles() []Role { return []Role{RoleAgent, RoleSupervisor, RoleRisk, RoleAdmin} }

// ParseRole reads a role name (case-insensitive); "senior" is
// RoleSupervisor (SUP-01's name for it).
func ParseRole(s string) (Role, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "senior" {
		return RoleSupervisor, true
	}
	r := Role(s)
	if slices.Contains(Roles(), r) {
		return r, true
	}
	return "", false
}

// Permission is an "object:action" string checked on every staff route
// and in the services behind them.
type Permission string

// The permission catalogue. Routes and services name these constants;
// the matrix says which role has which.
const (
	// Conversations.
	PermConversationRead   Permission = "conversation:read"
	PermConversationReply  Permission = "conversation:reply"
	PermConversationNote   Permission = "conversation:note" // internal notes and @mentions
	PermConversationAssign Permission = "conversation:assign"
	PermCannedManage       Permission = "canned:manage"

	// The customer beside the conversation.
	PermCustomerRead            Permission = "customer:read"       // masked context
	PermCustomerRevealPII       Permission = "customer:reveal_pii" // each reveal logged with a reason (SUP-03)
	PermCustomerFreeze          Permission = "customer:freeze"
	PermCustomerUnfreezeRequest Permission = "customer:unfreeze_request" // maker; approval:approve is the checker
	PermCustomerRevokeSessions  Permission = "customer:revoke_sessions"
	PermCustomerSendReset       Permission = "customer:send_reset" // a reset link or code, never a password (REC-07)
	PermCustomerResendNotice    Permission = "customer:resend_notification"
	PermCustomerResetFactorReq  Permission = "customer:reset_factor_request"
	PermTransactionRead         Permission = "transaction:read"
	PermHoldLift                Permission = "hold:lift" // a request; approval:approve is the checker
	PermApprovalApprove         Permission = "approval:approve"
	PermWithdrawalRead          Permission = "withdrawal:read"
	PermWithdrawalReview        Permission = "withdrawal:review"
	PermReportRead              Permission = "report:read"
	PermAuditRead               Permission = "audit:read"
	PermAgentRead               Permission = "agent:read"
	PermAgentManage             Permission = "agent:manage"
	PermTeamManage              Permission = "team:manage"
	PermFXManage                Permission = "fx:manage" // exchange rates: set one, upload the ECB file (audited)
	// The help center's articles: write, publish, unpublish.
	PermArticleManage Permission = "article:manage"
	// PermDeskOverview opens the desk's front page (/staff/desk): the
	// inbox for those who also hold conversation:read, otherwise the desk
	// at a glance (counts, teams, agents' load; no conversation content
	// and no customer data), which is what an admin who runs the desk
	// without answering customers needs.
	PermDeskOverview Permission = "desk:overview"
)

// Catalogue lists every permission, in the order the pages show them.
func Catalogue() []Permission {
	return []Permission{
		PermConversationRead, PermConversationReply, PermConversationNote, PermConversationAssign, PermCannedManage,
		PermCustomerRead, PermCustomerRevealPII, PermCustomerFreeze, PermCustomerUnfreezeRequest, PermCustomerRevokeSessions,
		PermCustomerSendReset, PermCustomerResendNotice, PermCustomerResetFactorReq, PermTransactionRead,
		PermHoldLift, PermApprovalApprove, PermWithdrawalRead, PermWithdrawalReview,
		PermReportRead, PermAuditRead, PermAgentRead, PermAgentManage, PermTeamManage,
		PermFXManage, PermArticleManage, PermDeskOverview,
	}
}

// matrix is THE role → permissions table (SUP-01: least privilege). Every
// check in OKPay goes through it; the RBAC matrix tests read it to decide
// which role must get 403 on which route.
var matrix = map[Role][]Permission{
	RoleAgent: {
		PermConversationRead, PermConversationReply, PermConversationNote,
		PermCustomerRead, PermCustomerRevealPII, PermCustomerFreeze, PermCustomerUnfreezeRequest,
		PermCustomerRevokeSessions, PermCustomerSendReset, PermCustomerResendNotice,
		PermTransactionRead, PermDeskOverview,
	},
	RoleSupervisor: {
		PermConversationRead, PermConversationReply, PermConversationNote, PermConversationAssign, PermCannedManage,
		PermCustomerRead, PermCustomerRevealPII, PermCustomerFreeze, PermCustomerUnfreezeRequest,
		PermCustomerRevokeSessions, PermCustomerSendReset, PermCustomerResendNotice, PermCustomerResetFactorReq,
		PermTransactionRead, PermHoldLift, PermApprovalApprove,
		PermReportRead, PermAgentRead, PermTeamManage, PermArticleManage, PermDeskOverview,
	},
	RoleRisk: {
		PermConversationRead, PermConversationReply, PermConversationNote,
		PermCustomerRead, PermCustomerRevealPII, PermCustomerFreeze, PermCustomerRevokeSessions,
		PermCustomerResetFactorReq, PermTransactionRead, PermHoldLift, PermApprovalApprove,
		PermWithdrawalRead, PermWithdrawalReview,
		PermReportRead, PermAuditRead, PermFXManage, PermDeskOverview,
	},
	RoleAdmin: {
		PermReportRead, PermAuditRead, PermAgentRead, PermAgentManage, PermTeamManage, PermFXManage, PermArticleManage,
		PermDeskOverview, // the desk at a glance; no conversations, no customers
	},
}

// RoleHas reports whether role grants p.
func RoleHas(role Role, p Permission) bool {
	return p != "" && slices.Contains(matrix[role], p)
}

// Permissions returns what the roles grant together, in catalogue order.
func Permissions(roles ...Role) []Permission {
	var out []Permission
	for _, p := range Catalogue() {
		for _, r := range roles {
			if RoleHas(r, p) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// Can reports whether agent a may do p: a is active and one of its roles
// grants p. A nil or disabled agent can do nothing.
func Can(a *Agent, p Permission) bool {
	if a == nil || a.Status != StatusActive {
		return false
	}
	for _, r := range a.Roles {
		if RoleHas(r, p) {
			return true
		}
	}
	return false
}

// ValidPermission reports whether p is in the catalogue.
func ValidPermission(p Permission) bool { return slices.Contains(Catalogue(), p) }
