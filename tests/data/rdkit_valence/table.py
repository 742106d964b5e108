import sys
sys.path.insert(0, __import__('os').path.dirname(__file__))
from probe import h, pt
syms = [pt.GetElementSymbol(z) for z in range(1, 119) if list(pt.GetValenceList(z)) != [-1]] + ['Fe', 'Tl', 'Zn']
patterns = [[1]*k for k in range(0, 9)] + [[2],[2,1],[2,2],[3],[2,1,1],[2,2,1],[2,2,2],[3,1],[2,2,1,1],[2,1,1,1],[2,2,2,1],[3,3]]
print("# element\tcharge\tbond orders\tRDKit total H (ERR: RDKit refuses the molecule)")
for s in syms:
    for c in range(-3, 4):
        for p in patterns:
            print("%s\t%d\t%s\t%s" % (s, c, ",".join(map(str, p)) or "-", h(s, c, p)))
