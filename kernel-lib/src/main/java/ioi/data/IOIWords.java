package ioi.data;

import java.util.List;

/**
 * The word lists of the reference {@code ioi_dataset.py}, verbatim ([A3]; [ET] where noted; docs/sources.md).
 * Template lists are in {@link IOITemplates}.
 */
public final class IOIWords {

    private IOIWords() {}

    /**
     * The 109 first names of ARENA 3.0's {@code NAMES} ([A3]; also [A2] and [PP]), in
     * list order (flips draw from this order, [A3] {@code gen_flipped_prompts}). The default names of
     * {@link IOIDataset}.
     */
    public static final List<String> NAMES = List.of(
            "Aaron", "Adam", "Alan", "Alex", "Alice", "Amy", "Anderson", "Andre", "Andrew", "Andy", "Anna",
            "Anthony", "Arthur", "Austin", "Blake", "Brandon", "Brian", "Carter", "Charles", "Charlie",
            "Christian", "Christopher", "Clark", "Cole", "Collins", "Connor", "Crew", "Crystal", "Daniel",
            "David", "Dean", "Edward", "Elizabeth", "Emily", "Eric", "Eva", "Ford", "Frank", "George",
            "Georgia", "Graham", "Grant", "Henry", "Ian", "Jack", "Jacob", "Jake", "James", "Jamie", "Jane",
            "Jason", "Jay", "Jennifer", "Jeremy", "Jessica", "John", "Jonathan", "Jordan", "Joseph",
            "Joshua", "Justin", "Kate", "Kelly", "Kevin", "Kyle", "Laura", "Leon", "Lewis", "Lisa", "Louis",
            "Luke", "Madison", "Marco", "Marcus", "Maria", "Mark", "Martin", "Mary", "Matthew", "Max",
            "Michael", "Michelle", "Morgan", "Patrick", "Paul", "Peter", "Prince", "Rachel", "Richard",
            "River", "Robert", "Roman", "Rose", "Ruby", "Russell", "Ryan", "Sarah", "Scott", "Sean",
            "Simon", "Stephen", "Steven", "Sullivan", "Taylor", "Thomas", "Tyler", "Victoria", "Warren",
            "William");

    /**
     * The paper's 99 first names ([ET] {@code NAMES}), in list order.
     */
    public static final List<String> PAPER_NAMES = List.of(
            "Michael", "Christopher", "Jessica", "Matthew", "Ashley", "Jennifer", "Joshua", "Amanda",
            "Daniel", "David", "James", "Robert", "John", "Joseph", "Andrew", "Ryan", "Brandon", "Jason",
            "Justin", "Sarah", "William", "Jonathan", "Stephanie", "Brian", "Nicole", "Nicholas", "Anthony",
            "Heather", "Eric", "Elizabeth", "Adam", "Megan", "Melissa", "Kevin", "Steven", "Thomas",
            "Timothy", "Christina", "Kyle", "Rachel", "Laura", "Lauren", "Amber", "Brittany", "Danielle",
            "Richard", "Kimberly", "Jeffrey", "Amy", "Crystal", "Michelle", "Tiffany", "Jeremy", "Benjamin",
            "Mark", "Emily", "Aaron", "Charles", "Rebecca", "Jacob", "Stephen", "Patrick", "Sean", "Erin",
            "Jamie", "Kelly", "Samantha", "Nathan", "Sara", "Dustin", "Paul", "Angela", "Tyler", "Scott",
            "Katherine", "Andrea", "Gregory", "Erica", "Mary", "Travis", "Lisa", "Kenneth", "Bryan",
            "Lindsey", "Kristen", "Jose", "Alexander", "Jesse", "Katie", "Lindsay", "Shannon", "Vanessa",
            "Courtney", "Christine", "Alicia", "Cody", "Allison", "Bradley", "Samuel");

    /**
     * {@code PLACES} (same in [A3] and [ET]): what {@code [PLACE]} becomes.
     */
    public static final List<String> PLACES = List.of(
            "store", "garden", "restaurant", "school", "hospital", "office", "house", "station");

    /**
     * {@code OBJECTS} (same in [A3] and [ET]): what {@code [OBJECT]} becomes.
     */
    public static final List<String> OBJECTS = List.of(
            "ring", "kiss", "bone", "basketball", "computer", "necklace", "drink", "snack");

    /**
     * {@code VERBS} (same in [A3] and [ET]; unused by the dataset itself).
     */
    public static final List<String> VERBS = List.of(
            " tried", " said", " decided", " wanted", " gave");

    /**
     * {@code ANIMALS} ([ET] only).
     */
    public static final List<String> ANIMALS = List.of(
            "dog", "cat", "snake", "elephant", "beetle", "hippo", "giraffe", "tiger", "husky", "lion",
            "panther", "whale", "dolphin", "beaver", "rabbit", "fox", "lamb", "ferret");

    /**
     * {@code PREFIXES} ([ET] only): the prefixes of the paper's {@code "prefix"} flip
     * ([ET] {@code flip_prefixes}), with their different amounts of leading whitespace.
     */
    public static final List<String> PREFIXES = List.of(
            "             Afterwards,",
            "            Two friends met at a bar. Then,",
            "  After a long day,",
            "  After a long day,",
            "    Then,",
            "         Then,");

}
