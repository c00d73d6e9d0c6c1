"""One label parser: the data builders (`prepare_csv`) and `audit` read the same labels from the same CSVs."""
import pytest
from transferlab.data import prepare_csv, audit
from transferlab.labels import TagGrouper

@pytest.fixture(scope='module')
def images(tmp_path_factory):
    from transferlab.datasets import shapes_folder
    src = sorted(shapes_folder(n_per_class=2, size=32).rglob('*.jpg'))
    d = tmp_path_factory.mktemp('imgs')
    for i, f in enumerate(src): (d/f'{i}.jpg').write_bytes(f.read_bytes())
    return d

CASES = {
    'space-delimited': ("ImageID,Labels\n0.jpg,1 3\n1.jpg,2\n2.jpg, 3 \n3.jpg,\n", dict()),
    'comma in quotes': ('ImageID,Labels\n0.jpg,"cat,dog"\n1.jpg,dog\n2.jpg,"cat, bird"\n3.jpg,cat\n', dict(delim=',')),
    'single with NaN': ("ImageID,Labels\n0.jpg,cat\n1.jpg,dog\n2.jpg,\n3.jpg, cat \n", dict()),
    'pipes': ("ImageID,Labels\n0.jpg,a|b\n1.jpg,b\n2.jpg,a\n3.jpg,c|a\n", dict(delim='|')),
    'one-hot': ("ImageID,cat,dog\n0.jpg,1,0\n1.jpg,1,1\n2.jpg,0,\n3.jpg,true,no\n", dict(label_cols=['cat', 'dog'])),
    'tags': ("ImageID,Labels\n0.jpg,#Cats cat\n1.jpg,dogs\n2.jpg,Cat\n3.jpg,dog puppy\n", dict(tag_grouper=TagGrouper({'pets': ['cat', 'dog']}), delim=' ')),
}

@pytest.mark.parametrize('case', CASES)
def test_prepare_csv_and_audit_agree(images, tmp_path, case):
    text, kw = CASES[case]
    (tmp_path/'labels.csv').write_text(text)
    a = audit(tmp_path/'labels.csv', img_dir=images, show=False, **kw)
    p = prepare_csv(tmp_path/'labels.csv', img_dir=images, skip_bad=True, **kw)
    joined = lambda l: ' '.join(l) if isinstance(l, list) else l
    by_file = dict(zip(a.file, a.label))
    for path, labels in zip(p.path, p.labels): assert by_file[path] == joined(labels), (case, path)
    assert set(a.attrs['findings']['unlabeled_rows']) == set(range(4)) - {int(__import__('pathlib').Path(x).stem) for x in p.path}
