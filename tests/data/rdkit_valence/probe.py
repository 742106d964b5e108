from rdkit import Chem, RDLogger
RDLogger.DisableLog('rdApp.*')
pt = Chem.GetPeriodicTable()
def block(sym, chg, orders, arom=False):
    n = 1 + len(orders)
    lines = ["x", "  probe", "", "%3d%3d  0  0  0  0  0  0  0  0999 V2000" % (n, len(orders))]
    lines.append("    0.0000    0.0000    0.0000 %-3s 0  0  0  0  0  0  0  0  0  0  0  0" % sym)
    for _ in orders:
        lines.append("    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0")
    for i, o in enumerate(orders):
        lines.append("%3d%3d%3d  0" % (1, i + 2, o))
    if chg:
        lines.append("M  CHG  1   1 %3d" % chg)
    lines.append("M  END")
    return "\n".join(lines) + "\n"
def h(sym, chg, orders):
    m = Chem.MolFromMolBlock(block(sym, chg, orders), removeHs=False)
    if m is None: return "ERR"
    return m.GetAtomWithIdx(0).GetTotalNumHs()
import sys
if __name__ == "__main__":
    for z in range(1, 119):
        vl = list(pt.GetValenceList(z))
        if vl != [-1]:
            print(z, pt.GetElementSymbol(z), vl)
