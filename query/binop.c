/*
 * Binary operators, as Prometheus 2.42's VectorBinop / VectorscalarBinop / VectorAnd/Or/Unless.
 * Matching signatures and result labels depend only on the series, not on the step, so they are
 * computed once per series; each step then only looks at which series are present. A result
 * series' labels can change with the step only in many-to-one matching (the "one" side that
 * matched may differ), which is cached per series and recomputed when it changes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "query/promql_int.h"

bool promql_tok_is_comparison(enum promql_tok op)
{
	switch (op) {
	case TOK_EQLC:
	case TOK_NEQC:
	case TOK_LSS:
	case TOK_LTE:
	case TOK_GTR:
	case TOK_GTE:
		return true;
	default:
		return false;
	}
}

static bool is_arith(enum promql_tok op)
{
	switch (op) {
	case TOK_ADD:
	case TOK_SUB:
	case TOK_MUL:
	case TOK_DIV:
	case TOK_MOD:
	case TOK_POW:
	case TOK_ATAN2:
		return true;
	default:
		return false;
	}
}

double promql_binop_apply(enum promql_tok op, double l, double r, bool *keep)
{
	*keep = true;
	switch (op) {
	case TOK_ADD: return l + r;
	case TOK_SUB: return l - r;
	case TOK_MUL: return l * r;
	case TOK_DIV: return l / r;
	case TOK_POW: return pow(l, r);
	case TOK_MOD: return fmod(l, r);
	case TOK_ATAN2: return atan2(l, r);
	case TOK_EQLC: *keep = l == r; return l;
	case TOK_NEQC: *keep = l != r; return l;
	case TOK_GTR: *keep = l > r; return l;
	case TOK_LSS: *keep = l < r; return l;
	case TOK_GTE: *keep = l >= r; return l;
	case TOK_LTE: *keep = l <= r; return l;
	default: return NAN;
	}
}

static void scalar_scalar(struct promql_ev *ev, const struct promql_node *n,
			  const struct promql_value *l, const struct promql_value *r,
			  struct promql_value *out)
{
	out->type = PROMQL_TYPE_SCALAR;
	out->scalar = promql_arena_array(ev->a, ev->nsteps, sizeof(double));
	for (size_t k = 0; k < ev->nsteps; k++) {
		bool keep;
		double v = promql_binop_apply(n->op, l->scalar[k], r->scalar[k], &keep);

		/* comparisons between scalars always carry bool (the parser insists) */
		out->scalar[k] = promql_tok_is_comparison(n->op) ? (keep ? 1 : 0) : v;
	}
}

static void vector_scalar(struct promql_ev *ev, const struct promql_node *n,
			  const struct promql_value *vec, const double *sc, bool swap,
			  struct promql_value *out)
{
	struct promql_outset o;
	bool cmp = promql_tok_is_comparison(n->op);
	bool drop = is_arith(n->op) || n->return_bool;

	promql_outset_init(&o);
	for (size_t i = 0; i < vec->nvs; i++) {
		const struct promql_vseries *in = &vec->vs[i];
		struct promql_vseries *s = NULL;

		for (size_t k = 0; k < ev->nsteps; k++) {
			double lv = in->v[k], rv = sc[k], v;
			bool keep;

			if (promql_is_absent(lv))
				continue;
			if (swap) {
				rv = lv;
				lv = sc[k];
			}
			v = promql_binop_apply(n->op, lv, rv, &keep);
			/* a comparison keeps the vector's value, even with the scalar on the left */
			if (cmp && swap)
				v = rv;
			if (n->return_bool) {
				v = keep ? 1 : 0;
				keep = true;
			}
			if (!keep)
				continue;
			if (!s) {
				size_t nl = in->nlabels;
				struct label *l = in->labels;

				if (drop)
					l = promql_labels_drop_name(ev, in->labels, in->nlabels, &nl);
				s = promql_outset_get(ev, &o, l, nl);
			}
			promql_outset_put(ev, s, k, v, NULL);
		}
		promql_ev_poll(ev);
	}
	promql_outset_finish(ev, &o, out);
}

/* The matching signature's label set: the on() labels, or all but the ignoring() labels and
 * __name__. */
static struct label *signature(struct promql_ev *ev, const struct promql_vmatch *vm,
			       const struct promql_vseries *s, size_t *n)
{
	if (vm->on)
		return promql_labels_filter(ev, s->labels, s->nlabels, vm->labels, vm->nlabels,
					    true, false, n);
	return promql_labels_filter(ev, s->labels, s->nlabels, vm->labels, vm->nlabels, false,
				    true, n);
}

static size_t *signatures(struct promql_ev *ev, const struct promql_vmatch *vm,
			  const struct promql_value *v, struct promql_lsmap *map)
{
	size_t *g = promql_arena_array(ev->a, v->nvs ? v->nvs : 1, sizeof(*g));

	for (size_t i = 0; i < v->nvs; i++) {
		size_t n;
		struct label *l = signature(ev, vm, &v->vs[i], &n);

		g[i] = promql_lsmap_get(ev, map, l, n);
	}
	return g;
}

/* The labels of the result of matching lhs series 'ls' with rhs series 'rs'. */
static struct label *result_labels(struct promql_ev *ev, const struct promql_node *n,
				   const struct promql_vseries *ls, const struct promql_vseries *rs,
				   size_t *out_n)
{
	const struct promql_vmatch *vm = n->vm;
	struct label *l;
	size_t nl;

	/* One-to-one: on(...) keeps only its labels (so __name__ only when listed), ignoring(...)
	 * removes its labels. Arithmetic and bool drop __name__ in every case. */
	if (vm->card == CARD_ONE_TO_ONE)
		l = promql_labels_filter(ev, ls->labels, ls->nlabels, vm->labels, vm->nlabels,
					 vm->on, is_arith(n->op) || n->return_bool, &nl);
	else
		l = promql_labels_filter(ev, ls->labels, ls->nlabels, NULL, 0, false,
					 is_arith(n->op) || n->return_bool, &nl);
	for (size_t i = 0; i < vm->ninclude; i++) {
		const char *v = model_labels_get(rs->labels, rs->nlabels, vm->include[i]);

		l = promql_labels_set(ev, l, nl, vm->include[i], v ? v : "", &nl);
	}
	*out_n = nl;
	return l;
}

static void vector_vector(struct promql_ev *ev, const struct promql_node *n,
			  const struct promql_value *lhs, const struct promql_value *rhs,
			  struct promql_value *out)
{
	const struct promql_vmatch *vm = n->vm;
	bool swap = vm->card == CARD_ONE_TO_MANY;
	const struct promql_value *L = swap ? rhs : lhs, *R = swap ? lhs : rhs;
	struct promql_lsmap map;
	struct promql_outset o;
	size_t *lg, *rg, ng, *rcount, *rmember, *matched, *cache_r;
	struct promql_vseries **cache_s;

	promql_lsmap_init(&map);
	rg = signatures(ev, vm, R, &map);
	lg = signatures(ev, vm, L, &map);
	ng = map.n;
	rcount = promql_arena_zalloc(ev->a, (ng + 1) * sizeof(*rcount));
	rmember = promql_arena_zalloc(ev->a, (ng + 1) * sizeof(*rmember));
	matched = promql_arena_zalloc(ev->a, (ng + 1) * sizeof(*matched));
	cache_r = promql_arena_array(ev->a, L->nvs + 1, sizeof(*cache_r));
	cache_s = promql_arena_zalloc(ev->a, (L->nvs + 1) * sizeof(*cache_s));
	for (size_t i = 0; i < L->nvs; i++)
		cache_r[i] = (size_t)-1;
	promql_outset_init(&o);
	for (size_t k = 0; k < ev->nsteps; k++) {
		for (size_t g = 0; g < ng; g++)
			rcount[g] = 0;
		for (size_t j = 0; j < R->nvs; j++) {
			size_t g = rg[j];

			if (promql_is_absent(R->vs[j].v[k]))
				continue;
			if (rcount[g]) {
				const struct promql_vseries *a = &R->vs[j], *b = &R->vs[rmember[g]];
				size_t sn;
				struct label *sl = signature(ev, vm, a, &sn);

				promql_ev_fail(ev, PROMQL_E_EXECUTION,
					       "found duplicate series for the match group %s on the "
					       "%s hand-side of the operation: [%s, %s];many-to-many "
					       "matching not allowed: matching labels must be unique "
					       "on one side",
					       promql_labels_str(ev, sl, sn), swap ? "left" : "right",
					       promql_labels_str(ev, a->labels, a->nlabels),
					       promql_labels_str(ev, b->labels, b->nlabels));
			}
			rcount[g] = 1;
			rmember[g] = j;
		}
		for (size_t i = 0; i < L->nvs; i++) {
			size_t g = lg[i], j;
			double vl, vr, v;
			bool keep;

			if (promql_is_absent(L->vs[i].v[k]) || !rcount[g])
				continue;
			j = rmember[g];
			vl = L->vs[i].v[k];
			vr = R->vs[j].v[k];
			if (swap) {
				double t = vl;

				vl = vr;
				vr = t;
			}
			v = promql_binop_apply(n->op, vl, vr, &keep);
			if (n->return_bool)
				v = keep ? 1 : 0;
			else if (!keep)
				continue;
			if (vm->card == CARD_ONE_TO_ONE) {
				if (matched[g] == k + 1)
					promql_ev_fail(ev, PROMQL_E_EXECUTION,
						       "multiple matches for labels: many-to-one "
						       "matching must be explicit "
						       "(group_left/group_right)");
				matched[g] = k + 1;
			}
			if (cache_r[i] != j) {
				size_t nl;
				struct label *l = result_labels(ev, n, &L->vs[i], &R->vs[j], &nl);

				cache_s[i] = promql_outset_get(ev, &o, l, nl);
				cache_r[i] = j;
			}
			promql_outset_put(ev, cache_s[i], k, v,
					  vm->card == CARD_ONE_TO_ONE
						  ? NULL
						  : "multiple matches for labels: grouping labels "
						    "must ensure unique matches");
		}
		promql_ev_poll(ev);
	}
	promql_lsmap_release(&map);
	promql_outset_finish(ev, &o, out);
}

/* and, or, unless: which series of each side are present at a step, by signature. */
static void set_op(struct promql_ev *ev, const struct promql_node *n,
		   const struct promql_value *lhs, const struct promql_value *rhs,
		   struct promql_value *out)
{
	struct promql_lsmap map;
	struct promql_outset o;
	size_t *lg, *rg, ng, *rpresent, *lpresent;
	struct promql_vseries **ls, **rs;

	promql_lsmap_init(&map);
	lg = signatures(ev, n->vm, lhs, &map);
	rg = signatures(ev, n->vm, rhs, &map);
	ng = map.n;
	rpresent = promql_arena_zalloc(ev->a, (ng + 1) * sizeof(*rpresent));
	lpresent = promql_arena_zalloc(ev->a, (ng + 1) * sizeof(*lpresent));
	ls = promql_arena_zalloc(ev->a, (lhs->nvs + 1) * sizeof(*ls));
	rs = promql_arena_zalloc(ev->a, (rhs->nvs + 1) * sizeof(*rs));
	promql_outset_init(&o);
	for (size_t k = 0; k < ev->nsteps; k++) {
		for (size_t j = 0; j < rhs->nvs; j++)
			if (!promql_is_absent(rhs->vs[j].v[k]))
				rpresent[rg[j]] = k + 1;
		for (size_t i = 0; i < lhs->nvs; i++) {
			const struct promql_vseries *s = &lhs->vs[i];
			bool in_r;

			if (promql_is_absent(s->v[k]))
				continue;
			lpresent[lg[i]] = k + 1;
			in_r = rpresent[lg[i]] == k + 1;
			if ((n->op == TOK_LAND && !in_r) || (n->op == TOK_LUNLESS && in_r))
				continue;
			if (!ls[i])
				ls[i] = promql_outset_get(ev, &o, s->labels, s->nlabels);
			promql_outset_put(ev, ls[i], k, s->v[k], NULL);
		}
		if (n->op != TOK_LOR)
			continue;
		for (size_t j = 0; j < rhs->nvs; j++) {
			const struct promql_vseries *s = &rhs->vs[j];

			if (promql_is_absent(s->v[k]) || lpresent[rg[j]] == k + 1)
				continue;
			if (!rs[j])
				rs[j] = promql_outset_get(ev, &o, s->labels, s->nlabels);
			promql_outset_put(ev, rs[j], k, s->v[k], NULL);
		}
		promql_ev_poll(ev);
	}
	promql_lsmap_release(&map);
	promql_outset_finish(ev, &o, out);
}

void promql_eval_binary(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out)
{
	struct promql_value l, r;

	promql_ev_eval(ev, n->lhs, &l);
	promql_ev_eval(ev, n->rhs, &r);
	if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_SCALAR)
		scalar_scalar(ev, n, &l, &r, out);
	else if (l.type == PROMQL_TYPE_VECTOR && r.type == PROMQL_TYPE_SCALAR)
		vector_scalar(ev, n, &l, r.scalar, false, out);
	else if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_VECTOR)
		vector_scalar(ev, n, &r, l.scalar, true, out);
	else if (n->op == TOK_LAND || n->op == TOK_LOR || n->op == TOK_LUNLESS)
		set_op(ev, n, &l, &r, out);
	else
		vector_vector(ev, n, &l, &r, out);
}
